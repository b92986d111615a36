"""Browser tests: the portal served by gunicorn on loopback with the demo data set, driven
by Playwright in the system Chromium (never a downloaded browser).

- `portal` (session): a fresh database (a SQLite file, or a PostgreSQL database of its
  own when TEST_DATABASE_URL is set), `flask db upgrade`, `flask seed-demo`, then
  gunicorn with two workers on a free port;
- `browser` (session): Chromium, from E2E_CHROMIUM or `chromium` on the PATH;
- `open_as(role)`: a new page signed in as that demo role (each role signs in once per
  run; its cookies are reused), watched for console errors, uncaught errors, CSP
  violations and server errors (tests/e2e/browser.py);
- `findings`: what went wrong on the test's pages; the test fails with all of it.

Run with `make test-e2e`; `make test` does not collect this folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from app import create_app
from app.extensions import db
from app.seed.demo import DEMO_PASSWORD
from tests.builders.databases import own_database
from tests.builders.environment import STRONG_AUDIT_KEY, STRONG_SECRET
from tests.builders.server import Server
from tests.e2e.browser import (
    ROLE_USERS,
    SCREENSHOTS,
    Findings,
    forget,
    launch,
    new_context,
    slug,
    watch,
    write_report,
)

# A smaller demo data set than `make run` seeds (1,500 decisions a vendor-month, samples
# of 150) keeps seeding to seconds; samples of 30 still leave drafts in every
# inspector's queue, one per vendor (app/seed/inspections.py).
DEMO_SIZE = {"DEMO_DECISIONS_PER_MONTH": 150, "DEMO_SAMPLE_SIZE": 30}
# Every role signs in once, but the tests may run many times in a row from one address.
SERVER_ENV = {
    "LOGIN_RATE_LIMIT": "1000 per minute",
    "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
}


def _seed(database_url: str, upload_dir: Path) -> None:
    """`flask db upgrade` and `flask seed-demo`, run in this process so that the demo
    data set's size and the password hashing cost can be set (hashes made cheaply are
    upgraded by the server at the first sign-in)."""
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_DIR": str(upload_dir),
            "SECRET_KEY": STRONG_SECRET,
            "AUDIT_KEY": STRONG_AUDIT_KEY,
            **DEMO_SIZE,
        }
    )
    runner = app.test_cli_runner()
    with app.app_context():
        for args in (["db", "upgrade"], ["seed-demo"]):
            result = runner.invoke(args=args)
            assert result.exit_code == 0, (args, result.output, result.exception)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def portal(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e")
    logs = folder / "logs"
    logs.mkdir()
    with own_database(folder, "e2e") as url:
        _seed(url, folder / "uploads")
        server = Server(url, folder / "uploads", logs, workers=2, threads=4, env=SERVER_ENV)
        server.start(timeout=60)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # this run's pictures only
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()
    write_report(SCREENSHOTS / "report.md")


def sign_in(page: Page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


@pytest.fixture(scope="session")
def signed_in(browser, portal):
    """The cookies of each role, signed in once per run: role -> storage state."""
    states: dict[str, dict] = {}

    def state_of(role: str) -> dict:
        if role not in states:
            findings = Findings()
            context = new_context(browser, portal.base)
            page = context.new_page()
            watch(page, role, findings)
            try:
                sign_in(page, ROLE_USERS[role])
                states[role] = context.storage_state()
            finally:
                forget(page)
                context.close()
            assert not findings, findings.report()
        return states[role]

    return state_of


@pytest.fixture(autouse=True)
def findings():
    return Findings()


@pytest.fixture
def open_as(request, browser, portal, signed_in, findings):
    """open_as(role) -> a new watched page signed in as the demo user of that role
    (None: signed out), in a context of its own."""
    contexts = []
    pages: list[Page] = []

    def open_page(role: str | None) -> Page:
        context = new_context(browser, portal.base, signed_in(role) if role else None)
        contexts.append(context)
        page = context.new_page()
        watch(page, role or "anonymous", findings)
        pages.append(page)
        return page

    yield open_page
    failed = getattr(request.node, "rep_call", None)
    for n, page in enumerate(pages):
        if failed is not None and failed.failed and not page.is_closed():
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=SCREENSHOTS / f"failed-{slug(request.node.name)}-{n}.png")
        forget(page)
    for context in contexts:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A test whose pages had findings fails with all of them (added to its own failure
    when it failed anyway)."""
    found = item.funcargs.get("findings")
    try:
        result = yield
    except BaseException as error:
        if found:
            error.add_note(found.report())
        raise
    if found:
        pytest.fail(found.report(), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
