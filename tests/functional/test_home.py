"""Each role's home page is its workspace (app/main/tiles.py): what a user sees there,
with numbers checked against a computation of the test's own, within the viewer's
tenant; /healthz answers without sign-in."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import months
from app.extensions import db
from app.models import ApiToken, AuditChainHead, AuditEvent, SampleItem
from app.tokens.services import create_token, revoke_token
from tests.builders import inspections
from tests.builders.world import module_world
from tests.factories import ContractFactory, LabelFactory, UserFactory, VendorFactory
from tests.refs import ref

DASH = "\u2013"  # between an interval's bounds, and for none
MINUS = "\u2212"
APOSTROPHE = "\u2019"

# Reading the page ---------------------------------------------------------------------


def _tile(page: str, name: str) -> str | None:
    """The HTML of the home tile `name` (its data-tile), or None when it is not shown."""
    match = re.search(rf'<section [^>]*data-tile="{name}".*?</section>', page, re.S)
    return match.group(0) if match else None


def _text(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup))).strip()


def _home(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def _wilson(count: int, n: int) -> tuple[float, float]:
    """The Wilson 95% interval, computed here from its textbook formula."""
    z = 1.959963984540054
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _main(page: str) -> str:
    """The page without its navigation (whose forms carry random tokens)."""
    return re.search(r"<main.*</main>", page, re.S).group(0)


def _tiles(page: str) -> list[str]:
    return re.findall(r'data-tile="([^"]+)"', page)


# The world: vendors, inspectors and their work ------------------------------------------


@dataclass
class Work:
    """What the test itself recorded while building: the numbers the pages must show."""

    assigned: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    drafts: dict[str, int] = field(default_factory=dict)
    findings: dict[str, list[str]] = field(default_factory=dict)  # inspector -> external ids
    against: dict[str, list[str]] = field(default_factory=dict)  # vendor -> external ids

    def count(self, who: str, *, done: bool = False, draft: bool = False) -> None:
        self.assigned[who] = self.assigned.get(who, 0) + 1
        self.done[who] = self.done.get(who, 0) + done
        self.drafts[who] = self.drafts.get(who, 0) + draft


def _at(month: date, day: int = 1, hour: int = 0) -> datetime:
    return datetime(month.year, month.month, day, hour, tzinfo=UTC)


def _inspect_all(decisions, actor, wrong: set[int], work: Work, who: str, *, open_=True):
    """Finalise an inspection of each decision; those at the indexes in `wrong` are found
    incorrect (QA expected a reject), the first of them critical. `open_`: the sample
    stays open (its items count as work in progress)."""
    for index, decision in enumerate(decisions):
        if index in wrong:
            severity = "critical" if index == min(wrong) else "major"
            inspections.inspect(
                decision, actor, expected="reject", expected_labels=[LABEL], severity=severity
            )
            work.findings.setdefault(who, []).append(decision.external_id)
            work.against.setdefault(decision.vendor.code, []).append(decision.external_id)
        else:
            inspections.inspect(decision, actor)
        if open_:
            work.count(who, done=True)


LABEL = "HOME-FAKE"


@module_world
def world():
    """This month and last month (UTC) of three vendors:

    RISKY (target 95%, cap 2%): this month 7 of 10 correct (missed), last month 9 of 10
    (indistinguishable); SAFE (target 50%, cap 50%): this month 10 of 10 (met);
    OTHER: last month 1 of 2 correct. Ines inspected RISKY's and SAFE's month (sample
    `ready`: all inspected; `busy`: two pending, one drafted) and holds a drafted RISKY
    item (`drafted`); Omar inspected last month (closed samples) and has three items of
    OTHER not started (`fresh`). Quinn leads, with nothing assigned."""
    now_month, last_month = months.current(), months.last_closed()
    inspections.scorecard("listing")
    LabelFactory(code=LABEL, policy_area="listing")
    risky = VendorFactory(code="RISKY", name="Risky Review Co")
    safe = VendorFactory(code="SAFE", name="Safe Moderation Ltd")
    other = VendorFactory(code="OTHER", name="Other Outsourcing")
    ContractFactory(
        vendor=risky,
        effective_month=months.back(last_month, 3)[0],
        accuracy_target=0.95,
        critical_error_cap=0.02,
    )
    ContractFactory(
        vendor=safe,
        effective_month=months.back(last_month, 3)[0],
        accuracy_target=0.5,
        critical_error_cap=0.5,
    )
    ContractFactory(vendor=other, effective_month=months.back(last_month, 3)[0])
    ines = UserFactory(role="qa_inspector", name="Ines Inspector")
    omar = UserFactory(role="qa_inspector", name="Omar Okafor")
    quinn = UserFactory(role="qa_lead", name="Quinn Lead")
    work = Work()

    def decisions(vendor, month, count, hour=1):
        return [inspections.decision(vendor, decided=_at(month, 1, hour)) for _ in range(count)]

    # Last month: Omar's work, its samples closed since.
    risky_last = decisions(risky, last_month, 10)
    other_last = decisions(other, last_month, 2)
    closed = [
        inspections.sample_of(risky, risky_last, assignee=omar),
        inspections.sample_of(other, other_last, assignee=omar),
    ]
    _inspect_all(risky_last, omar, {3}, work, "omar", open_=False)
    _inspect_all(other_last, omar, {0}, work, "omar", open_=False)
    for sample in closed:
        sample.state, sample.closed_at = "closed", datetime.now(UTC)

    # This month: Ines's work.
    risky_now = decisions(risky, now_month, 10)
    ready = inspections.sample_of(risky, risky_now, assignee=ines)
    _inspect_all(risky_now, ines, {0, 4, 8}, work, "ines")
    safe_now = decisions(safe, now_month, 12)
    busy = inspections.sample_of(safe, safe_now, assignee=ines)
    _inspect_all(safe_now[:10], ines, set(), work, "ines")
    inspections.inspect(safe_now[10], ines, finalise=False)
    work.count("ines", draft=True)
    work.count("ines")
    draft_decision = inspections.decision(risky, decided=_at(now_month, 1, 2))
    drafted = inspections.sample_of(risky, [draft_decision], assignee=ines)
    # A draft that disagrees: never a finding, nor shown to the vendor.
    inspections.inspect(
        draft_decision, ines, expected="reject", expected_labels=[LABEL], finalise=False
    )
    work.count("ines", draft=True)

    # Omar's new work, not started.
    fresh = inspections.sample_of(other, decisions(other, now_month, 3, hour=3), assignee=omar)
    for _ in range(3):
        work.count("omar")
    db.session.commit()
    return {
        "risky": risky,
        "safe": safe,
        "other": other,
        "ines": ines,
        "omar": omar,
        "quinn": quinn,
        "ready": ready,
        "busy": busy,
        "drafted": drafted,
        "fresh": fresh,
        "work": work,
    }


def _items(sample) -> list[SampleItem]:
    return list(
        db.session.scalars(
            sa.select(SampleItem).where(SampleItem.sample_id == sample.id).order_by(SampleItem.id)
        )
    )


# Inspectors ---------------------------------------------------------------------------


def test_an_inspector_sees_the_queue_with_progress_and_continue(client, auth, world):
    auth.login(world["ines"])
    page = _home(client)
    assert _tiles(page) == ["queue", "own-findings"]
    queue = _tile(page, "queue")
    work = world["work"]
    assigned, done, drafts = work.assigned["ines"], work.done["ines"], work.drafts["ines"]
    text = _text(queue)
    assert f"{assigned - done} items to inspect" in text
    assert f"{done} of {assigned} inspected in 3 open samples" in text
    assert f"{drafts} drafts to finish" in text
    assert f'<progress class="qa-progress" value="{done}" max="{assigned}"' in queue
    # Sample by sample: RISKY's is all inspected; SAFE's goes on with its draft.
    ready, busy, drafted = world["ready"], world["busy"], world["drafted"]
    assert f"Sample #{ref(ready)}" in text and "all inspected" in text
    busy_items = _items(busy)
    draft_item = busy_items[10]
    continue_busy = re.search(
        rf'<a [^>]*href="/inspections/items/{ref(draft_item)}"[^>]*aria-label="Continue sample'
        rf' #{ref(busy)}"',
        queue,
    )
    assert continue_busy is not None
    assert f'aria-label="Continue sample #{ref(drafted)}"' in queue
    assert "Start" not in text  # everything of hers is under way
    # The big button goes on where the queue does: the oldest sample with work left.
    assert re.search(
        rf'href="/inspections/items/{ref(draft_item)}" aria-label="Continue my queue"', queue
    )


def test_an_inspector_with_nothing_started_is_offered_start(client, auth, world):
    auth.login(world["omar"])
    queue = _tile(_home(client), "queue")
    first = _items(world["fresh"])[0]
    assert re.search(rf'href="/inspections/items/{ref(first)}" aria-label="Start my queue"', queue)
    assert f'aria-label="Start sample #{ref(world["fresh"])}"' in queue
    assert "Continue" not in _text(queue)
    assert "3 items to inspect" in _text(queue)


def test_an_inspector_sees_their_own_recent_findings_only(client, auth, world):
    auth.login(world["ines"])
    tile = _tile(_home(client), "own-findings")
    shown = re.findall(r'href="/inspections/(\d+)">([^<]+)</a>', tile)
    mine = world["work"].findings["ines"]
    assert sorted(external for _, external in shown) == sorted(mine)
    for number, _ in shown:
        assert client.get(f"/inspections/{number}").status_code == 200
    text = _text(tile)
    for external in world["work"].findings["omar"]:
        assert external not in text
    assert "approve: QA expected reject" in text
    assert "critical" in text and "major" in text
    drafted = _items(world["drafted"])[0]
    assert drafted.decision.external_id not in text  # a draft finds nothing yet


def test_a_new_inspector_sees_what_to_expect(client, login_as, world):
    login_as("qa_inspector")
    page = _home(client)
    assert "No items are assigned to you." in _text(_tile(page, "queue"))
    assert "None of your final inspections has found an error yet." in _text(
        _tile(page, "own-findings")
    )


# QA leads -----------------------------------------------------------------------------


def test_a_lead_sees_vendors_at_risk_with_figure_interval_and_trend(client, auth, world):
    auth.login(world["quinn"])
    page = _home(client)
    assert _tiles(page) == ["at-risk", "ready-to-close", "work-in-progress"]
    tile = _tile(page, "at-risk")
    assert f"Vendors at risk · {months.current():%B %Y}" in _text(tile)
    rows = {
        _text(row).split()[0]: _text(row)
        for row in re.findall(r"<tr>.*?</tr>", tile, re.S)
        if "<td" in row
    }
    assert set(rows) == {"RISKY"}  # SAFE meets both targets; OTHER has no data this month
    low, high = _wilson(7, 10)
    row = rows["RISKY"]
    assert f"70.0% ({_pct(low)}{DASH}{_pct(high)}) 7/10" in row
    assert "≥ 95.0% missed" in row
    assert f"{MINUS}20.0 pts was 90.0%" in row  # 9 of 10 last month
    crit_low, crit_high = _wilson(1, 10)
    assert f"10.0% ({_pct(crit_low)}{DASH}{_pct(crit_high)}) 1/10" in row
    # The figure leads to the inspections behind it.
    assert "outcome=incorrect" in tile and "vendor=RISKY" in tile


def test_a_lead_sees_samples_ready_to_close(client, auth, world):
    auth.login(world["quinn"])
    tile = _tile(_home(client), "ready-to-close")
    listed = re.findall(r"Sample #(\d+)</a>", tile)
    assert listed == [str(ref(world["ready"]))]
    assert "10 inspected" in _text(tile)
    assert f'href="/sampling/{ref(world["ready"])}"' in tile


def test_a_lead_sees_work_in_progress_per_inspector(client, auth, world):
    auth.login(world["quinn"])
    tile = _tile(_home(client), "work-in-progress")
    work = world["work"]
    for key, user in (("ines", world["ines"]), ("omar", world["omar"])):
        row = next(r for r in re.findall(r"<tr>.*?</tr>", tile, re.S) if user.name in r)
        assigned, done = work.assigned[key], work.done[key]
        pending = assigned - done
        drafts = work.drafts.get(key, 0)
        expected = f"{user.name} {done} of {assigned} {drafts or DASH} {pending}"
        assert _text(row) == expected
    lead_row = next(r for r in re.findall(r"<tr>.*?</tr>", tile, re.S) if "Quinn Lead" in r)
    assert "nothing assigned" in _text(lead_row)


def test_the_at_risk_tile_falls_back_to_last_month_until_this_month_has_data(client, login_as):
    vendor = VendorFactory(code="LATE")
    ContractFactory(vendor=vendor, effective_month=date(2020, 1, 1), accuracy_target=0.99)
    inspections.scorecard("listing")
    inspector = UserFactory(role="qa_inspector")
    last = months.last_closed()
    decisions = [inspections.decision(vendor, decided=_at(last, 2)) for _ in range(4)]
    inspections.sample_of(vendor, decisions, assignee=inspector)
    for d in decisions:
        inspections.inspect(d, inspector)
    db.session.commit()
    login_as("qa_lead")
    text = _text(_tile(_home(client), "at-risk"))
    assert f"Vendors at risk · {last:%B %Y}" in text
    assert f"{months.current():%B %Y} has no final contract inspections yet" in text
    assert "LATE" in text and "100.0%" in text and "indistinguishable" in text


def test_a_lead_without_data_sees_empty_states(client, login_as):
    login_as("qa_lead")
    page = _home(client)
    assert "so no vendor can be judged" in _text(_tile(page, "at-risk"))
    assert "No samples are open." in _text(_tile(page, "ready-to-close"))


# Vendor users -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_a_vendor_sees_its_months_against_target_and_a_sparkline(client, login_as, world, role):
    login_as(role, vendor=world["risky"])
    page = _home(client)
    assert _tiles(page) == ["vendor-months", "findings"]
    tile = _tile(page, "vendor-months")
    text = _text(tile)
    now, last = months.current(), months.last_closed()
    so_far = text[text.index(f"{now:%B %Y} so far") : text.index(f"{last:%B %Y} The last")]
    low, high = _wilson(7, 10)
    assert "70.0% missed" in so_far
    assert f"95% interval {_pct(low)}{DASH}{_pct(high)} · 7 correct of 10 inspected" in so_far
    assert "Target ≥ 95.0%" in so_far
    closed = text[text.index(f"{last:%B %Y} The last") :]
    assert "90.0% indistinguishable" in closed
    # Six closed months, the last two with data, drawn without inline styles.
    svg = re.search(r"<svg.*?</svg>", tile, re.S).group(0)
    assert "style=" not in svg and 'role="img"' in svg
    assert f"{months.back(last, 6)[0]:%b %Y}: no data" in svg
    assert f"{last:%b %Y}: 90.0%" in svg
    assert 'class="qa-chart-point qa-chart-latest"' in svg


@pytest.mark.parametrize("role", ["vendor_lead", "vendor_viewer"])
def test_a_vendor_sees_its_newest_findings_and_never_another_vendors(client, login_as, world, role):
    login_as(role, vendor=world["risky"])
    page = _main(_home(client))
    tile = _tile(page, "findings")
    shown = re.findall(r'href="/inspections/(\d+)">([^<]+)</a>', tile)
    assert sorted(external for _, external in shown) == sorted(world["work"].against["RISKY"])
    for number, _ in shown:
        assert client.get(f"/inspections/{number}").status_code == 200
    for external in world["work"].against["OTHER"]:
        assert external not in page
    for leak in ("OTHER", "Other Outsourcing", "SAFE", world["ines"].name, world["omar"].name):
        assert leak not in page
    drafted = _items(world["drafted"])[0]
    assert drafted.decision.external_id not in page


def test_a_vendor_without_findings_or_data_is_told_so(client, login_as):
    vendor = VendorFactory(code="QUIET")
    login_as("vendor_viewer", vendor=vendor)
    page = _home(client)
    text = _text(page)
    assert f"No inspection of {months.current():%B}{APOSTROPHE}s decisions is final yet." in text
    assert "No final inspection has found one of your decisions incorrect yet." in text


# Admins -------------------------------------------------------------------------------


def test_an_admin_sees_tokens_unused_for_90_days_and_deactivated_users(client, login_as):
    admin = login_as("admin")
    now = datetime.now(UTC)
    feed = UserFactory(role="integration", name="Decision feed")
    stale, _ = create_token(feed, name="old feed")
    stale.last_used_at = now - timedelta(days=120)
    never, _ = create_token(admin, name="never used")
    never.created_at = now - timedelta(days=100)
    fresh, _ = create_token(feed, name="busy feed")
    fresh.last_used_at = now - timedelta(days=3)
    create_token(admin, name="made today")
    gone, _ = create_token(admin, name="revoked long ago")
    gone.created_at = now - timedelta(days=300)
    revoke_token(gone)
    leaver = UserFactory(role="qa_inspector", name="Lee Leaver", active=False)
    db.session.commit()

    page = _home(client)
    assert _tiles(page) == ["housekeeping", "audit-chain", "recent-changes"]
    text = _text(_tile(page, "housekeeping"))
    tokens = text[text.index("Tokens unused") : text.index("Deactivated users")]
    assert "old feed" in tokens and "never used" in tokens
    for name in ("busy feed", "made today", "revoked long ago"):
        assert name not in tokens
    assert "never used (made" in tokens and "last used" in tokens
    working = db.session.scalar(
        sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
    )
    assert f"2 of {working} working tokens" in tokens
    users = text[text.index("Deactivated users") :]
    assert "Lee Leaver" in users and leaver.email in users
    assert admin.name not in users


def test_an_admin_sees_the_audit_chain_state(client, login_as):
    login_as("admin")
    feed = UserFactory(role="integration")
    create_token(feed, name="an event")
    create_token(feed, name="and another")
    db.session.commit()
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    tile = _text(_tile(_home(client), "audit-chain"))
    assert f"intact {events:,} events" in tile
    assert f"the head, event #{events}, verifies with the audit key" in tile
    assert "Verify every event now" in tile


def test_an_admin_sees_a_broken_chain(client, login_as):
    login_as("admin")
    create_token(UserFactory(role="integration"), name="an event")
    db.session.commit()
    head = db.session.get(AuditChainHead, 1)
    head.last_hash = "0" * 64
    db.session.commit()
    tile = _text(_tile(_home(client), "audit-chain"))
    assert "Broken:" in tile and "is not the head the chain records" in tile
    assert "intact" not in tile


# Every role ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, tiles",
    [
        ("admin", ["housekeeping", "audit-chain", "recent-changes"]),
        ("qa_lead", ["at-risk", "ready-to-close", "work-in-progress"]),
        ("qa_inspector", ["queue", "own-findings"]),
        ("vendor_lead", ["vendor-months", "findings"]),
        ("vendor_viewer", ["vendor-months", "findings"]),
    ],
)
def test_each_role_gets_its_own_workspace_without_inline_styles(client, login_as, role, tiles):
    login_as(role)
    page = _home(client)
    assert _tiles(page) == tiles
    assert "style=" not in page
    # Not a table of settings any more.
    assert "Accuracy target" not in page and "Dispute window" not in page


def test_a_lead_with_items_of_their_own_gets_the_queue_tile(client, auth, world):
    lead = world["quinn"]
    item = _items(world["fresh"])[0]
    item.assignee_id = lead.id
    db.session.commit()
    auth.login(lead)
    page = _home(client)
    assert _tiles(page)[0] == "queue"
    assert "1 item to inspect" in _text(_tile(page, "queue"))


# Health ---------------------------------------------------------------------------------


def test_healthz_answers_ok_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_home_needs_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
