"""What a person looks at: as each demo role, every page the navigation offers (its
menus included), checked and photographed at desktop and phone width
(tests/e2e/screenshots/).

The roles are toured by two threads, each with a browser of its own (Playwright's sync
API belongs to the thread that started it): on two cores this halves the tour's time,
since the server, the browser and the test otherwise take turns."""

from __future__ import annotations

import queue
import threading

from playwright.sync_api import Page, sync_playwright

from tests.e2e.browser import (
    ROLE_USERS,
    Findings,
    check_page,
    forget,
    launch,
    new_context,
    open_from_nav,
    watch,
)

THREADS = 2
# The longest tours first, so that the two threads finish together.
ROLES = ["admin", "vendor_lead", "qa_lead", "vendor_viewer", "qa_inspector"]
assert sorted(ROLES) == sorted(ROLE_USERS)


def test_the_sign_in_and_password_pages(open_as):
    page = open_as(None)
    page.goto("/")
    page.wait_for_url("**/auth/login**")
    check_page(page, "sign-in")
    page = open_as("vendor_viewer")
    page.goto("/")
    open_from_nav(page, "Change password")
    check_page(page, "change-password")


def navigation(page: Page) -> list[tuple[str, str]]:
    """(name, href) of every link of the navigation bar, those inside its (closed) menus
    too, but home and the account's own pages (the same for everyone: checked once)."""
    links: dict[str, str] = {}
    nav = page.get_by_role("navigation").first
    for link in nav.get_by_role("link", include_hidden=True).all():
        href = link.get_attribute("href") or ""
        skip = href.startswith("/auth/") or href in ("/", *links.values())
        if href.startswith("/") and not skip:
            links.setdefault(link.text_content().strip(), href)
    return list(links.items())


def tour(page: Page, role: str) -> None:
    page.goto("/")
    check_page(page, "home")
    pages = navigation(page)
    assert pages, f"no navigation for {role}"
    for name, href in pages:
        response = page.goto(href)
        assert response is not None and response.status == 200, (role, name, href)
        check_page(page, name)


def _tourist(base: str, roles: queue.Queue, states: dict, findings: Findings, done: dict):
    """Tour roles from the queue until it is empty; done[role] is None, or the error."""
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                while True:
                    try:
                        role = roles.get_nowait()
                    except queue.Empty:
                        return
                    context = new_context(browser, base, states[role])
                    page = context.new_page()
                    watch(page, role, findings)
                    try:
                        tour(page, role)
                        done[role] = None
                    except Exception as error:  # reported by the test, with the role
                        done[role] = f"{type(error).__name__}: {error}"
                    finally:
                        forget(page)
                        context.close()
            finally:
                browser.close()
    except Exception as error:  # the browser itself failed
        done[f"a tour thread ({threading.current_thread().name})"] = repr(error)


def test_every_role_sees_every_page_of_its_navigation(portal, signed_in, findings):
    states = {role: signed_in(role) for role in ROLES}
    roles: queue.Queue[str] = queue.Queue()
    for role in ROLES:
        roles.put(role)
    done: dict[str, str | None] = {}
    threads = [
        threading.Thread(target=_tourist, args=(portal.base, roles, states, findings, done))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [f"{role}: {error}" for role, error in done.items() if error]
    assert not errors, "\n".join(errors)
    assert sorted(done) == sorted(ROLES)
