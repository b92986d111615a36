"""The Vendor QA Portal application factory."""

from __future__ import annotations

import importlib
import logging

from flask import Flask, has_request_context, request
from sqlalchemy import event

from app.config import BASE_DIR, load_config
from app.database import SQLITE_BUSY_TIMEOUT_MS
from app.web import PortalRequest


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        static_folder=str(BASE_DIR / "static"),
        template_folder=str(BASE_DIR / "templates"),
        instance_path=str(BASE_DIR / "instance"),
    )
    app.config.from_mapping(load_config(config))
    app.request_class = PortalRequest
    register_extensions(app)
    register_security(app)
    register_blueprints(app)
    register_errors(app)
    register_templates(app)
    register_cli(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    sweep_jobs_at_start(app)
    return app


def register_extensions(app: Flask) -> None:
    from flask_bootstrap import Bootstrap5

    from app.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        _configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    Bootstrap5(app)


def _configure_engine(engine) -> None:
    """SQLite: enforce foreign keys, WAL, a busy timeout, and let SQLAlchemy (not the
    driver) open transactions so savepoints work. Transactions of requests that write
    take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that read
    first would fail, not wait, when another writer committed in between."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        reading = has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def register_security(app: Flask) -> None:
    from app.auth.services import configure_login
    from app.security import headers
    from app.security.access import enforce_access

    headers.init_app(app)
    configure_login(app)
    # Access is decided before any other hook can read the body (the CSRF check and the
    # rate limiter, registered with the extensions, read the form): only a request that
    # passed its endpoint's policy is granted a larger body limit. The request id comes
    # first, for the logs of whatever answers.
    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.remove(headers.assign_request_id)
    hooks[:0] = [headers.assign_request_id, enforce_access]
    if app.config.get("TRUSTED_PROXIES"):
        # Behind a load balancer the client address (the login rate-limit key) is in
        # X-Forwarded-For; trust exactly as many hops as the operator says are ours.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


# Every page area, in the order its blueprint is registered (the API comes separately:
# it is a flask-smorest blueprint that also builds the OpenAPI document).
PAGE_BLUEPRINTS = (
    "app.main.routes",
    "app.auth.routes",
    "app.vendors.routes",
    "app.users.routes",
    "app.labels.routes",
    "app.tokens.routes",
    "app.audit.routes",
    "app.decisions.routes",
    "app.sampling.routes",
    "app.jobs.routes",
    "app.inspections.routes",
    "app.dashboards.routes",
    "app.scorecards.routes",
)


def register_converters(app: Flask) -> None:
    """The URL converters of the portal's routes; before any rule is added. Ids, public
    numbers and text keys in URLs are checked by routing."""
    from app.security.public_ids import PublicIdConverter
    from app.web import BoundedIntConverter, KeyConverter

    app.url_map.converters["id"] = BoundedIntConverter
    app.url_map.converters["key"] = KeyConverter
    app.url_map.converters["ref"] = PublicIdConverter


def register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.api import init_app as init_api
    from app.extensions import csrf

    register_converters(app)
    for module in PAGE_BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module).bp)
    init_api(app)  # registers api_bp and builds its OpenAPI document
    csrf.exempt(api_bp)  # the API authenticates by bearer token, never by cookie


def register_errors(app: Flask) -> None:
    from app.errors import init_app

    init_app(app)


def register_templates(app: Flask) -> None:
    from app.templating import init_app

    init_app(app)


def sweep_jobs_at_start(app: Flask) -> None:
    """Jobs that a stopped process left running are failed when a process starts."""
    from app.jobs.services import sweep_at_start

    sweep_at_start(app)


def register_cli(app: Flask) -> None:
    from app.cli import init_app

    init_app(app)
