"""An admin adds a vendor user, then an API token for them: the token is shown once,
works against the API, and is never shown again."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid

from playwright.sync_api import expect

from tests.e2e.browser import check_page, open_from_nav


def _me(base: str, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 (our own test server)
        f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, json.loads(response.read())


def test_admin_creates_a_vendor_user_and_a_token_shown_once(open_as, portal):
    email = f"new.lead.{uuid.uuid4().hex[:6]}@acme.example"
    page = open_as("admin")
    page.goto("/")
    open_from_nav(page, "Users")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()

    page.get_by_role("link", name="New user").click()
    check_page(page, "user-new")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("Nadia Newlead")
    page.get_by_label("Role").select_option(label="Vendor lead")
    page.get_by_label("Vendor", exact=True).select_option(value="ACME")
    page.get_by_label("Initial password").fill("a-long-first-password-2026")
    page.get_by_role("button", name="Create user").click()

    expect(page.get_by_text(f"User {email} created.")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Nadia Newlead"))).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("ACME")
    check_page(page, "user-detail")

    page.get_by_role("link", name="New token").click()
    page.get_by_label("Name").fill("Weekly results pull")
    scopes = page.get_by_role("group", name="Scopes")
    for scope in scopes.get_by_role("checkbox").all():
        scope.uncheck()
    scopes.get_by_role("checkbox", name=re.compile(r"^read\b")).check()
    page.get_by_role("button", name="Create token").click()

    expect(page.get_by_text("shown only this once")).to_be_visible()
    token = page.get_by_label("API token").input_value()
    assert len(token) >= 32, token
    check_page(page, "token-created")
    status, me = _me(portal.base, token)
    assert status == 200
    assert (me["email"], me["role"], me["vendor"], me["scopes"]) == (
        email,
        "vendor_lead",
        "ACME",
        ["read"],
    )

    # Never again: not on the token list, not on the user's page.
    open_from_nav(page, "API tokens")
    expect(page.get_by_role("main")).to_contain_text("Weekly results pull")
    assert token not in page.content()
    page.get_by_role("link", name=email).first.click()
    expect(page.get_by_role("main")).to_contain_text("Weekly results pull")
    assert token not in page.content()
