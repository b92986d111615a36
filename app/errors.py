"""Domain errors raised by services, and the HTTP error pages (HTML or JSON)."""

from __future__ import annotations

import sqlite3

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError


class DomainError(Exception):
    """Base for errors that services raise and both pages and API translate."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: list | dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details


class NotAllowed(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class ValidationFailed(DomainError):
    status = 422
    code = "invalid"


def wants_json() -> bool:
    if request.blueprint == "api" or request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and (
        request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/html"]
    )


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
}
_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def _respond(status: int, message: str, details=None, code: str | None = None):
    code = code or _CODES.get(status, "error")
    if wants_json():
        return jsonify(error_body(code, message, details)), status
    template = f"errors/{status}.html" if status in (403, 404, 500) else "errors/generic.html"
    return (
        render_template(
            template, status=status, title=_TITLES.get(status, "Error"), message=message
        ),
        status,
    )


def argument_errors(messages: dict) -> list[dict]:
    """Flatten webargs/marshmallow messages ({location: {field: [msg]}} or, for lists,
    {location: {index: {field: [msg]}}}) into [{"index"?, "field", "message"}]."""
    details: list[dict] = []

    def walk(node, path: list, index):
        if isinstance(node, list) and all(isinstance(m, str) for m in node):
            for message in node:
                item = {"field": ".".join(path) or None, "message": message}
                if index is not None:
                    item["index"] = index
                details.append(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, int) and index is None and not path:
                    walk(value, path, key)
                else:
                    walk(value, [*path, str(key)], index)
        elif isinstance(node, str):
            details.append({"field": ".".join(path) or None, "message": node})

    for location_messages in messages.values():
        walk(location_messages, [], None)
    return details


def _summary(details: list[dict], limit: int = 3) -> str:
    parts = [f"{d['field']}: {d['message']}" if d.get("field") else d["message"] for d in details]
    more = f" (and {len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


# What a request answers while the database cannot be reached (a restart, a failover,
# every connection busy); clients may retry after this many seconds.
UNAVAILABLE_MESSAGE = (
    "The portal is temporarily unavailable: it cannot reach its database. Try again in a minute."
)
UNAVAILABLE_RETRY_AFTER = 10


def database_unavailable(err: Exception) -> bool:
    """Whether a database error means "not reachable now" rather than a fault of the
    request or of the code: a lost connection, a refused one, an exhausted pool, or a
    server-side operational condition (shutting down, starting up, out of resources).
    SQLite reports its own mistakes (no such table, syntax) as operational errors too,
    so from SQLite only a locked or busy database, or one that cannot be opened, counts."""
    if isinstance(err, sa_exc.TimeoutError):
        return True
    if not isinstance(err, sa_exc.DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    if not isinstance(err, sa_exc.OperationalError):
        return False
    if isinstance(err.orig, sqlite3.Error):
        text = str(err.orig).lower()
        return any(word in text for word in ("locked", "busy", "unable to open"))
    return True


def _unavailable(err: Exception):
    """503 without touching the database again: the page is drawn for an anonymous
    visitor (the signed-in user cannot be loaded), and the session's transaction is
    rolled back, or dropped when the server cannot even be asked to."""
    from app.extensions import db

    current_app.logger.warning("database unavailable: %s", getattr(err, "orig", None) or err)
    try:
        db.session.rollback()
    except sa_exc.SQLAlchemyError:
        db.session.invalidate()
    current_app.login_manager._update_request_context_with_user()
    body, status = _respond(503, UNAVAILABLE_MESSAGE)
    return body, status, {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)}


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        return _respond(err.status, err.message, err.details, err.code)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError):
        return _respond(400, "The form expired or was sent from elsewhere; reload and retry.")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        status = err.code or 500
        messages = (getattr(err, "data", None) or {}).get("messages")
        if messages:  # request arguments refused by an API schema
            details = argument_errors(messages)
            return _respond(status, "Some arguments are not valid: " + _summary(details), details)
        response = _respond(status, err.description or _TITLES.get(status, "Error"))
        if status == 405 and err.valid_methods:
            body, code = response
            return body, code, {"Allow": ", ".join(err.valid_methods)}
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        if isinstance(err, HTTPException):
            return _http(err)
        if database_unavailable(err):
            return _unavailable(err)
        app.logger.exception("unhandled error")
        from app.extensions import db

        db.session.rollback()
        return _respond(500, InternalServerError.description)
