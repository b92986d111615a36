"""A TCP proxy that tests put between the app and a server (PostgreSQL, Redis), so they
can take the server away from this app alone and give it back, as a restart or an
outage would, without touching the server that other test runs share.

`stop()` closes every connection through the proxy and stops listening: the app's open
connections break and new ones are refused, as while a server restarts. `start()`
listens again on the same port. `freeze()` makes the server hang instead: connections
are accepted and requests are taken, but nothing ever answers (a stuck server, a lost
network); `stop()` and `start()` end that.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0  # chosen by the system at the first start, kept afterwards
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._up = threading.Event()
        self._frozen = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0  # connections accepted, over the proxy's life

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._frozen.clear()
        self._listener = listener
        self._up.set()
        self._accepting = threading.Thread(
            target=self._accept_loop, args=(listener,), name="tcp-proxy-accept", daemon=True
        )
        self._accepting.start()
        return self

    def freeze(self) -> None:
        """Answer nothing from now on, on open connections and new ones alike."""
        self._frozen.set()

    def stop(self) -> None:
        """Refuse new connections and break every open one."""
        self._up.clear()
        if self._accepting is not None:
            self._accepting.join(5)
            self._accepting = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._up.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self._frozen.is_set():  # taken, and never answered
                with self._lock:
                    self._sockets.add(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if not self._up.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="tcp-proxy-pump", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self._frozen.is_set():
                    continue  # swallowed: the server does not answer
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
