"""The app and its database for functional tests: one database per run (SQLite file, or
a fresh PostgreSQL database when TEST_DATABASE_URL points at a server), built by the
real migrations; each test inside a rolled-back transaction, on a module's world's
connection when it asks for one (tests/builders/world.py)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app
from app.extensions import db, limiter
from tests.builders.world import (
    WORLDS,
    bind_session,
    grouped_by_world,
    requested_world,
    unbind_session,
)
from tests.factories import TEST_PASSWORD


def _server_url(url: str, database: str) -> sa.URL:
    return sa.make_url(url).set(database=database)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        path = Path(tmp_path_factory.mktemp("db")) / "test.db"
        yield f"sqlite:///{path}"
        return
    name = f"vqa_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_server_url(base, "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _server_url(base, name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class FreshContextClient(FlaskClient):
    """Each request gets its own app context (fresh `g` and database session), as in
    production; otherwise requests would share the test's context and its caches."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
        }
    )
    app.test_client_class = FreshContextClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        WORLDS.close()
        leaked = _rows_left(db.engine)
        db.engine.dispose()
    assert not leaked, f"tests left committed rows behind: {leaked}"


def _rows_left(engine) -> dict[str, int]:
    """Rows a test committed for real and did not clean up (the chain head aside)."""
    counts = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            if table.name == "audit_chain_head":
                head = conn.execute(sa.select(table.c.seq)).scalar()
                count = 0 if head == 0 else count
            if count:
                counts[table.name] = count
    return counts


def pytest_collection_modifyitems(items):
    """The tests of a module that share a world run one after the other (see
    tests/builders/world.py), so the world is built once for the module."""
    items[:] = grouped_by_world(items)


def pytest_terminal_summary(terminalreporter, config):
    """With -v: how often each module world was built."""
    if config.getoption("verbose") > 0 and WORLDS.builds:
        terminalreporter.write_sep("-", "module worlds built")
        for key, count in sorted(WORLDS.builds.items()):
            terminalreporter.write_line(f"{count:3d}  {key}")


@pytest.fixture(scope="module", autouse=True)
def _module_world_closed():
    """A module's world is rolled back when the module's tests are done."""
    yield
    WORLDS.close()


@pytest.fixture(autouse=True)
def _transaction(request, app):
    """Run each test inside a transaction that is rolled back afterwards: a SAVEPOINT on
    the connection of the module's world when the test asks for one, otherwise a
    transaction on a connection of its own.

    Tests marked `committing` (real concurrent connections) manage their own data.
    """
    with app.app_context():
        limiter.reset()
        if request.node.get_closest_marker("committing"):
            if requested_world(request) is not None:
                raise RuntimeError("a committing test cannot use a world")
            WORLDS.close()  # its open transaction would hold locks the test waits for
            yield
            return
        with WORLDS.test_connection(app, requested_world(request)) as connection:
            bind_session(connection)
            try:
                yield
            finally:
                unbind_session()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, user_or_email, password: str = TEST_PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        return self._client.post(
            "/auth/login", data={"email": email, "password": password}, follow_redirects=False
        )

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def make_user():
    """Create a user of a role (with a vendor for vendor roles)."""
    from tests.factories import UserFactory, VendorFactory

    def make(role: str, vendor=None, **kwargs):
        if role in ("vendor_lead", "vendor_viewer") and vendor is None:
            vendor = VendorFactory()
        return UserFactory(role=role, vendor=vendor, **kwargs)

    return make


@pytest.fixture
def login_as(client, auth, make_user):
    """Sign the test client in as a new user of `role`; returns the user."""

    def do(role: str, vendor=None, **kwargs):
        user = make_user(role, vendor, **kwargs)
        response = auth.login(user)
        assert response.status_code == 302, response.data[:500]
        return user

    return do


@pytest.fixture
def api_client(client):
    """Call the API with a bearer token for a user: api_client(user).get(...)."""
    from app.tokens.services import create_token

    class Api:
        def __init__(self, token: str):
            self.headers = {"Authorization": f"Bearer {token}"}

        def __getattr__(self, method):
            def call(path, **kwargs):
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return getattr(client, method)(path, headers=headers, **kwargs)

            return call

    def make(user, scopes=None):
        _, plain = create_token(user, name="test", scopes=scopes)
        db.session.commit()
        return Api(plain)

    return make
