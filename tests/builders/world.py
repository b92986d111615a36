"""Test data built once per module, and each test's rolled-back transaction.

Every test runs on one connection inside a transaction that is rolled back afterwards,
and the session (`db.session` and the sessions of the requests the test makes) is bound
to that connection with `join_transaction_mode="create_savepoint"`, so that the code
under test may commit and roll back as it does in production.

A *world* is the data many tests of a module read. Defined with `@module_world`, it is
built the first time a test of the module asks for it, on a connection of its own
inside an outer transaction; each test asking for it then runs inside a SAVEPOINT on
that connection, rolled back after the test, so tests may still write. The outer
transaction is rolled back when the module ends, or when a test that does not ask for
the world runs (it gets an empty database, as before; a later test asking for the world
builds it again). So that this happens once per module, the tests of a module that ask
for the same world run one after the other (`grouped_by_world`, applied by
tests/functional/conftest.py). At most one connection holds worlds at a time: on SQLite
its open transaction holds the write lock.

    @module_world
    def world():  # its docstring says what the tests may rely on
        return {"vendor": VendorFactory(code="ACME"), ...}

    @module_world(on=world)
    def many(world):  # receives the value of `world`, adds more data on top
        ...

A world built `on` another is a layer above a SAVEPOINT of its own: a test asking for
`many` (or for both) gets both; going on to `world` alone, or to another layer on it,
rolls that SAVEPOINT back instead of building `world` again.

The fixture's value is what the builder returned, with every ORM object in it loaded
again in the test's own session, and dicts, lists, tuples, sets and dataclasses copied,
so a test may change them without the next test noticing. Anything else in it is shared
by the module's tests and must not be changed. The builder runs in an app context of its
own and takes no fixtures; the fixture must be defined in (or imported into) the test
module, which is where the per-test transaction looks for it.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import InstanceState

from app.extensions import db

# Session binding ---------------------------------------------------------------------------


def bind_session(connection: sa.Connection) -> None:
    """Make the sessions `db.session` creates from now on (the test's own and those of
    the requests it makes) use `connection`, each inside a SAVEPOINT of its own.

    `db.session` is a scoped_session around the app's `Session` class (app/database.py),
    which honours a session-level bind; reconfiguring its factory is public SQLAlchemy
    API (`scoped_session.configure`) and keeps that class and Flask-SQLAlchemy's
    app-context scoping."""
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")


def unbind_session() -> None:
    """Back to the engine and SQLAlchemy's default way of joining a transaction."""
    db.session.remove()
    db.session.configure(bind=None, join_transaction_mode="conditional_savepoint")


# Snapshots of a world's value ----------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    model: type
    identity: tuple


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def freeze(value: Any) -> Any:
    """`value` with every ORM object replaced by a reference to its row."""
    state = sa.inspect(value, raiseerr=False)
    if isinstance(state, InstanceState):
        if state.identity is None:
            raise ValueError(f"{value!r} is not in the database: a world must flush it")
        return _Ref(type(value), state.identity)
    if isinstance(value, dict):
        return {key: freeze(item) for key, item in value.items()}
    if isinstance(value, list):
        return [freeze(item) for item in value]
    if isinstance(value, tuple):
        items = [freeze(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, set | frozenset):
        return type(value)(freeze(item) for item in value)
    if _is_dataclass_instance(value) or isinstance(value, SimpleNamespace):
        return _copy_with(value, freeze)
    return value


def _copy_with(value: Any, convert: Callable[[Any], Any]) -> Any:
    result = copy.copy(value)
    names = (
        [f.name for f in dataclasses.fields(value)]
        if _is_dataclass_instance(value)
        else list(vars(value))
    )
    for name in names:
        object.__setattr__(result, name, convert(getattr(value, name)))
    return result


def _refs(value: Any, found: set[_Ref]) -> None:
    if isinstance(value, _Ref):
        found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _refs(item, found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refs(item, found)
    elif _is_dataclass_instance(value) or isinstance(value, SimpleNamespace):
        for item in (
            [getattr(value, f.name) for f in dataclasses.fields(value)]
            if _is_dataclass_instance(value)
            else vars(value).values()
        ):
            _refs(item, found)


def thaw(snapshot: Any, session) -> Any:
    """A fresh copy of a frozen value, its ORM objects loaded in `session` (one query
    per model)."""
    found: set[_Ref] = set()
    _refs(snapshot, found)
    by_model: dict[type, list[_Ref]] = {}
    for ref in found:
        by_model.setdefault(ref.model, []).append(ref)
    loaded: list[Any] = []  # held, or the session's weak identity map would let them go
    for model, refs in by_model.items():
        keys = sa.inspect(model).primary_key
        if len(keys) != 1:
            continue  # composite keys are loaded one by one below
        ids = sorted(ref.identity[0] for ref in refs)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            loaded += session.scalars(sa.select(model).where(keys[0].in_(chunk))).all()

    def convert(value: Any) -> Any:
        if isinstance(value, _Ref):
            instance = session.get(value.model, value.identity)  # from the identity map
            if instance is None:
                raise LookupError(f"{value.model.__name__} {value.identity} is gone")
            return instance
        if isinstance(value, dict):
            return {key: convert(item) for key, item in value.items()}
        if isinstance(value, list):
            return [convert(item) for item in value]
        if isinstance(value, tuple):
            items = [convert(item) for item in value]
            return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
        if isinstance(value, set | frozenset):
            return type(value)(convert(item) for item in value)
        if _is_dataclass_instance(value) or isinstance(value, SimpleNamespace):
            return _copy_with(value, convert)
        return value

    return convert(snapshot)


# Worlds -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldSpec:
    key: str
    build: Callable[..., Any]
    base: WorldSpec | None = None

    def chain(self) -> list[WorldSpec]:
        """The worlds this one is built on, the first first, then itself."""
        return [*(self.base.chain() if self.base else []), self]


@dataclass
class _Layer:
    spec: WorldSpec
    snapshot: Any
    savepoint: sa.NestedTransaction | None  # None for the first layer (the outer transaction)


class Worlds:
    """The worlds open now: one connection in an outer transaction holding a stack of
    layers (a world and the worlds built on it, each above a SAVEPOINT of its own), and
    each test's rolled-back transaction."""

    def __init__(self) -> None:
        self._connection: sa.Connection | None = None
        self._outer: sa.RootTransaction | None = None
        self._layers: list[_Layer] = []
        self.builds: dict[str, int] = {}  # how often each world was built

    def close(self) -> None:
        """Roll the open worlds back (if any) and give their connection back."""
        connection, outer = self._connection, self._outer
        self._connection, self._outer, self._layers = None, None, []
        if connection is None:
            return
        try:
            if outer is not None and outer.is_active:
                outer.rollback()
        finally:
            connection.close()

    def _intact(self) -> bool:
        return (
            self._connection is not None
            and self._outer is not None
            and self._outer.is_active
            and all(layer.savepoint is None or layer.savepoint.is_active for layer in self._layers)
        )

    def _open(self, spec: WorldSpec, app: Flask) -> sa.Connection:
        """The connection holding `spec` (and the worlds it is built on) and nothing else:
        layers that are open already are kept, others rolled back or built."""
        chain = spec.chain()
        keep = 0
        if self._intact():
            while (
                keep < min(len(self._layers), len(chain))
                and self._layers[keep].spec.key == chain[keep].key
            ):
                keep += 1
        if keep == 0:
            self.close()
            self._connection = db.engine.connect()
            self._outer = self._connection.begin()
        while len(self._layers) > keep:
            savepoint = self._layers.pop().savepoint
            assert savepoint is not None
            savepoint.rollback()
        connection = self._connection
        assert connection is not None
        for layer_spec in chain[keep:]:
            savepoint = connection.begin_nested() if self._layers else None
            try:
                snapshot = self._build(layer_spec, app, connection)
            except BaseException:
                self.close()
                raise
            self._layers.append(_Layer(layer_spec, snapshot, savepoint))
            self.builds[layer_spec.key] = self.builds.get(layer_spec.key, 0) + 1
        return connection

    def _build(self, spec: WorldSpec, app: Flask, connection: sa.Connection) -> Any:
        # A context of its own: nothing the builder leaves in `g` reaches a test.
        with app.app_context():
            bind_session(connection)
            try:
                if spec.base is None:
                    value = spec.build()
                else:
                    value = spec.build(thaw(self._layers[-1].snapshot, db.session))
                db.session.commit()  # flushes; releases the builder's own savepoint only
                return freeze(value)
            finally:
                unbind_session()

    @contextmanager
    def test_connection(self, app: Flask, spec: WorldSpec | None) -> Iterator[sa.Connection]:
        """The connection a test runs on, inside a transaction rolled back afterwards: a
        SAVEPOINT above the world `spec` when the test asks for one, otherwise a
        transaction on a connection of its own (and no world open)."""
        if spec is None:
            self.close()
            connection = db.engine.connect()
            scope = connection.begin()
        else:
            connection = self._open(spec, app)
            scope = connection.begin_nested()
        try:
            yield connection
        finally:
            try:
                if scope.is_active:
                    scope.rollback()
            finally:
                if spec is None:
                    connection.close()
                elif not self._intact():
                    self.close()  # the test ended a world's transaction: build anew

    def view(self, spec: WorldSpec) -> Any:
        """The world's value, loaded in the test's session."""
        for layer in self._layers:
            if layer.spec.key == spec.key:
                return thaw(layer.snapshot, db.session)
        raise RuntimeError(
            f"the world {spec.key} is not open for this test: define (or import) its "
            "fixture in the test module, where the per-test transaction looks for it"
        )


WORLDS = Worlds()


# id of each world fixture -> (the fixture, its spec): looked up by identity, since a test
# module's other names may be anything (a werkzeug proxy answers no attribute outside a
# request).
_FIXTURES: dict[int, tuple[Any, WorldSpec]] = {}


def _spec_of(obj: Any) -> WorldSpec | None:
    entry = _FIXTURES.get(id(obj))
    return entry[1] if entry is not None and entry[0] is obj else None


def module_world(build: Callable[..., Any] | None = None, *, on=None):
    """Turn `build` into a fixture of the same name whose data is built once per module
    (see the module documentation). With `on=other_world`, the world is built on top of
    that one: `build` receives its value, and tests of the module that ask for the
    other world only get back to it by rolling back a SAVEPOINT."""
    if build is None:
        return lambda function: module_world(function, on=on)
    base = _spec_of(on)
    if on is not None and base is None:
        raise TypeError(f"{on!r} is not a world")
    spec = WorldSpec(f"{build.__module__}.{build.__qualname__}", build, base)

    def view(_transaction):
        return WORLDS.view(spec)

    view.__name__ = build.__name__
    view.__qualname__ = build.__qualname__
    view.__module__ = build.__module__
    view.__doc__ = build.__doc__
    fixture = pytest.fixture(name=build.__name__)(view)
    fixture.world_spec = spec  # type: ignore[attr-defined]
    _FIXTURES[id(fixture)] = (fixture, spec)
    return fixture


def world_of(module: Any, fixturenames: Iterable[str]) -> WorldSpec | None:
    """The world a test of `module` using `fixturenames` asks for, if any: when it asks
    for several, the one built on all the others."""
    names = vars(module)
    specs = {
        spec.key: spec for name in fixturenames if (spec := _spec_of(names.get(name))) is not None
    }
    for spec in specs.values():
        if set(specs) <= {s.key for s in spec.chain()}:
            return spec
    if specs:
        raise RuntimeError(f"these worlds are not built on one another: {sorted(specs)}")
    return None


def requested_world(request: pytest.FixtureRequest) -> WorldSpec | None:
    """The world the test asks for (directly or through its fixtures), if any."""
    return world_of(request.module, request.fixturenames)


def grouped_by_world(items: list[pytest.Item]) -> list[pytest.Item]:
    """`items` with the tests of each module that ask for the same world one after the
    other (in the order their worlds first appear; the file's order otherwise), so that
    each world is built once per module. Tests run in a rolled-back transaction each, so
    their order does not matter otherwise."""

    def spec_of(item: pytest.Item) -> WorldSpec | None:
        try:
            return world_of(item.module, item.fixturenames)  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            return None  # not a test function, or a mistake its set-up will report

    result: list[pytest.Item] = []
    for _, run in itertools.groupby(items, key=lambda item: getattr(item, "module", None)):
        tests = list(run)
        keys = []
        for item in tests:
            spec = spec_of(item)
            keys.append((spec.chain()[0].key, spec.key) if spec else (None, None))
        if keys.count((None, None)) == len(keys):
            result += tests
            continue
        families: dict[str | None, int] = {}
        worlds: dict[str | None, int] = {}
        for family, key in keys:
            families.setdefault(family, len(families))
            worlds.setdefault(key, len(worlds))
        order = sorted(
            range(len(tests)),
            key=lambda i: (families[keys[i][0]], worlds[keys[i][1]], i),
        )
        result += [tests[i] for i in order]
    return result
