"""What every page of the browser tests must pass, and the helpers the journeys use.

Each page opened through the `open_as` fixture is watched: a console error, an uncaught
script error, a Content-Security-Policy violation or a response with status 500 or more
is a finding of the test. `check_page` adds axe-core's serious and critical violations
(axe is evaluated in the page over the DevTools protocol, which the page's CSP does not
govern, so the CSP is neither loosened nor bypassed), checks that the page does not
scroll sideways on a phone, and writes full-page screenshots at desktop and phone width.
A test fails at its end with every finding, so one rough page does not hide the next.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    expect,
)

E2E_DIR = Path(__file__).resolve().parent
SCREENSHOTS = E2E_DIR / "screenshots"
AXE_SCRIPT = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING_IMPACTS = ("serious", "critical")
# Generous waits: CI shares two cores between the server, the browser and the tests.
TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000

# The demo user who plays each role (app/seed/demo.py); vendor users are ACME's.
ROLE_USERS = {
    "admin": "admin@demo.example",
    "qa_lead": "qa.lead@demo.example",
    "qa_inspector": "qa.inspector@demo.example",
    "vendor_lead": "acme.lead@demo.example",
    "vendor_viewer": "acme.viewer@demo.example",
}
OWN_VENDOR = "ACME"
OTHER_VENDOR = "NORTHSTAR"

# Reports CSP violations to the test (through a binding the context exposes). Added over
# the DevTools protocol before the page's own scripts run; the page's CSP does not apply.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__e2eCspViolation({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
});
"""

# No preload: axe would fetch the page's style sheets again for one rule
# (css-orientation-lock), which more than doubles its time on a large page.
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"], preload: false});
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({
      target: n.target.map((t) => Array.isArray(t) ? t.join(" >>> ") : t),
      impact: n.impact,
      summary: (n.failureSummary || "").split("\\n").slice(1, 2).join(" ").trim(),
    })),
  }));
}"""

# Whether the document is wider than the window (the whole page scrolls sideways).
SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# Layout defects only a browser shows, each as a list of what is wrong on the page:
# - the navigation bar wrapping to a second line at desktop width;
# - a select too narrow for the option it shows ("contrac" for "contract"), at desktop
#   width (on a phone the system's picker shows each option whole);
# - a badge stretched into a tall block by its flex container.
LAYOUT_DEFECTS = """(desktop) => {
  const found = [];
  const bar = document.querySelector("nav.navbar");
  const toggler = bar && bar.querySelector(".navbar-toggler");
  const tall = bar ? Math.round(bar.getBoundingClientRect().height) : 0;
  if (toggler && getComputedStyle(toggler).display === "none" && tall > 72) {
    found.push(`the navigation bar wraps (${tall} px tall)`);
  }
  const canvas = document.createElement("canvas").getContext("2d");
  for (const select of desktop ? document.querySelectorAll("select") : []) {
    const box = select.getBoundingClientRect();
    if (!box.width || select.multiple || select.size > 1) continue;
    const style = getComputedStyle(select);
    canvas.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const shown = select.options[select.selectedIndex];
    const text = shown ? shown.text.trim() : "";
    const room =
      select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (canvas.measureText(text).width > room + 1) {
      found.push(`select ${select.name || select.id} cuts "${text}" short`);
    }
  }
  for (const badge of document.querySelectorAll(".badge")) {
    const box = badge.getBoundingClientRect();
    const size = parseFloat(getComputedStyle(badge).fontSize);
    if (box.height > size * 2.6) {
      found.push(`badge "${badge.textContent.trim()}" is ${Math.round(box.height)} px tall`);
    }
  }
  return found;
}"""

# Nothing but the portal is reachable: no background connections, updates or sync.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


expect.set_options(timeout=TIMEOUT_MS)


def launch(playwright: Playwright) -> Browser:
    """Debian's chromium (or E2E_CHROMIUM), headless: a browser is never downloaded."""
    path = os.environ.get("E2E_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError("No Chromium: install Debian's `chromium` (make test-e2e does).")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def new_context(browser: Browser, base_url: str, state: dict | None = None) -> BrowserContext:
    """A browser context at desktop size (signed in when given a storage state) whose
    pages report CSP violations to their watch."""
    context = browser.new_context(
        base_url=base_url, viewport=DESKTOP, storage_state=state, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.expose_binding("__e2eCspViolation", on_csp_violation)
    context.add_init_script(CSP_LISTENER)
    return context


@dataclass
class Finding:
    kind: str  # console, page error, csp, server error, axe, layout
    role: str
    where: str  # the page's name (check_page) or its path
    text: str

    def line(self) -> str:
        return f"[{self.kind}] {self.role} · {self.where}: {self.text}"


@dataclass
class Findings:
    """Everything that went wrong on the pages of one test."""

    items: list[Finding] = field(default_factory=list)

    def add(self, kind: str, role: str, where: str, text: str) -> None:
        self.items.append(Finding(kind, role, where, text))

    def __bool__(self) -> bool:
        return bool(self.items)

    def report(self) -> str:
        return f"{len(self.items)} finding(s) on the pages of this test:\n" + "\n".join(
            finding.line() for finding in self.items
        )


@dataclass
class Watch:
    """One page's role, the test's findings, and the statuses the test expects (a 404
    asked for on purpose is not a finding)."""

    role: str
    findings: Findings
    expected: dict[str, int] = field(default_factory=dict)


_WATCHES: dict[int, Watch] = {}


def watch_of(page: Page) -> Watch:
    return _WATCHES[id(page)]


def forget(page: Page) -> None:
    _WATCHES.pop(id(page), None)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def watch(page: Page, role: str, findings: Findings) -> Watch:
    """Record the page's console errors, uncaught errors, CSP violations and server
    errors as findings."""
    state = Watch(role, findings)
    _WATCHES[id(page)] = state

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        asked = state.expected.get(_path(message.location.get("url") or page.url))
        if "Failed to load resource" in message.text and _status_in(message.text) == asked:
            return  # the status the test asked for
        kind = "csp" if message.text.startswith("Refused to") else "console"
        findings.add(kind, role, _path(page.url), message.text)

    def on_response(response: Response) -> None:
        if response.status >= 500:
            findings.add("server error", role, _path(response.url), str(response.status))

    def on_page_error(error: Exception) -> None:
        findings.add("page error", role, _path(page.url), str(error))

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("response", on_response)
    return state


def on_csp_violation(source: dict, info: dict) -> None:
    """The binding the CSP listener calls (exposed on each browser context)."""
    page = source["page"]
    state = _WATCHES.get(id(page))
    if state is not None:
        state.findings.add("csp", state.role, _path(page.url), json.dumps(info, ensure_ascii=False))


def _status_in(text: str) -> int | None:
    match = re.search(r"status of (\d{3})", text)
    return int(match.group(1)) if match else None


def expect_status(page: Page, path: str, status: int) -> Response:
    """Open `path` and check the answer's status; asked for on purpose, a 404 (or any
    status) is not a finding."""
    watch_of(page).expected[_path(path)] = status
    response = page.goto(path)
    assert response is not None, path
    assert response.status == status, f"{path}: {response.status}, expected {status}"
    return response


@cache
def axe_source() -> str:
    if not AXE_SCRIPT.exists():
        raise RuntimeError(
            f"{AXE_SCRIPT} is missing: run `npm ci` in tests/e2e (make test-e2e does)."
        )
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict]:
    """axe-core's violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(f"() => {{ {axe_source()}\n; return typeof window.axe; }}")
    return page.evaluate(AXE_RUN)


def describe(violation: dict, limit: int = 5) -> str:
    nodes = violation["nodes"]
    shown = "; ".join(
        f"{', '.join(node['target'])}" + (f" ({node['summary']})" if node["summary"] else "")
        for node in nodes[:limit]
    )
    more = f"; … {len(nodes) - limit} more" if len(nodes) > limit else ""
    return (
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        f"{len(nodes)} node(s): {shown}{more}"
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"


# Every page checked in this run, for the report written at the end (conftest.py).
RECORDED: list[dict] = []


def check_page(page: Page, name: str) -> list[dict]:
    """axe-core on the page (serious and critical violations are findings), no sideways
    scrolling at phone width, and full-page screenshots `<role>-<name>-<width>.png` at
    desktop and phone width. Returns every axe violation, whatever its impact."""
    state = watch_of(page)
    page.wait_for_load_state("load")
    started = time.monotonic()
    violations = axe_violations(page)
    for violation in violations:
        if violation["impact"] in BLOCKING_IMPACTS:
            state.findings.add("axe", state.role, name, describe(violation))
    entry = {"role": state.role, "page": name, "path": _path(page.url), "axe": violations}
    RECORDED.append(entry)
    entry["axe_seconds"] = time.monotonic() - started
    started = time.monotonic()
    SCREENSHOTS.mkdir(exist_ok=True)
    stem = f"{state.role}-{slug(name)}"
    page.screenshot(path=SCREENSHOTS / f"{stem}-{DESKTOP['width']}.png", full_page=True)
    for defect in page.evaluate(LAYOUT_DEFECTS, True):
        state.findings.add("layout", state.role, name, f"{defect} at {DESKTOP['width']} px")
    try:
        page.set_viewport_size(PHONE)
        for defect in page.evaluate(LAYOUT_DEFECTS, False):
            state.findings.add("layout", state.role, name, f"{defect} at {PHONE['width']} px")
        overflow = page.evaluate(SIDEWAYS)
        if overflow > 1:
            state.findings.add(
                "layout",
                state.role,
                name,
                f"the page scrolls sideways by {overflow} px at {PHONE['width']} px wide",
            )
        page.screenshot(path=SCREENSHOTS / f"{stem}-{PHONE['width']}.png", full_page=True)
    finally:
        page.set_viewport_size(DESKTOP)
        entry["screenshot_seconds"] = time.monotonic() - started
    return violations


def write_report(path: Path) -> None:
    """A readable summary of the axe results of every checked page."""
    lines = ["# Browser test report", ""]
    for entry in sorted(RECORDED, key=lambda entry: entry["role"]):
        blocking = [v for v in entry["axe"] if v["impact"] in BLOCKING_IMPACTS]
        other = [v for v in entry["axe"] if v["impact"] not in BLOCKING_IMPACTS]
        status = "ok" if not blocking else f"{len(blocking)} serious/critical"
        shots = entry.get("screenshot_seconds", 0)
        took = f"axe {entry['axe_seconds']:.1f} s, screenshots {shots:.1f} s"
        lines.append(f"## {entry['role']} · {entry['page']} ({entry['path']}): {status} ({took})")
        lines += [f"- {describe(v)}" for v in blocking]
        lines += [f"- (not blocking) {describe(v)}" for v in other]
        lines.append("")
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def open_from_nav(page: Page, name: str) -> None:
    """Follow the navigation bar's link `name`, opening the menu that holds it if needed."""
    nav = page.get_by_role("navigation").first
    # The name alone, but for what an icon adds to the name of a link in a closed menu.
    exact = re.compile(rf"^\W*{re.escape(name)}\s*$")
    link = nav.get_by_role("link", name=exact)
    if not link.is_visible():
        toggler = nav.get_by_role("button", name="Toggle navigation")
        if toggler.is_visible():  # phone width: the bar is collapsed
            toggler.click()
        if not link.is_visible():
            hidden = page.get_by_role("link", name=exact, include_hidden=True)
            menu = nav.get_by_role("listitem").filter(has=hidden)
            menu.get_by_role("button").first.click()
    link.click()
