"""The checks every page gets do catch what they are for: a CSP violation, a console
error, an uncaught script error, an unexpected 404's console message, and an axe-core
violation. (Everything here is caused on purpose; the findings are cleared after.)"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.browser import axe_violations, expect_status


def test_the_watch_reports_csp_violations_console_and_script_errors(open_as, findings):
    page = open_as(None)
    page.goto("/auth/login")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.inlineRan = true";
          document.body.append(script);
          const box = document.createElement("div");
          box.setAttribute("style", "color: red");
          document.body.append(box);
          console.error("a console error");
          setTimeout(() => { throw new Error("an uncaught error"); }, 0);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.inlineRan") is None  # the CSP held
    kinds = {f.kind for f in findings.items}
    texts = " | ".join(f.text for f in findings.items)
    assert {"csp", "console", "page error"} <= kinds, texts
    assert "script-src" in texts and "an uncaught error" in texts
    findings.items.clear()

    expect_status(page, "/no-such-page", 404)  # asked for: not a finding
    assert not findings, findings.report()
    page.goto("/another-missing-page")  # not asked for: its console message is
    assert any(f.kind == "console" for f in findings.items), findings.report()
    findings.items.clear()


def test_axe_finds_a_contrast_violation(open_as):
    page = open_as(None)
    page.goto("/auth/login")
    page.evaluate(
        """() => {
          const p = document.createElement("p");
          p.textContent = "Hard to read";
          p.className = "text-light bg-white";
          document.querySelector("main").append(p);
        }"""
    )
    expect(page.get_by_text("Hard to read")).to_be_visible()
    ids = {v["id"] for v in axe_violations(page)}
    assert "color-contrast" in ids
