"""No filter tells a vendor user who in QA did what, or shows them another vendor
(DESIGN §1: "no filter or search can tell a pseudonym's person"; tenant isolation).

Every list a vendor user reaches — pages, CSV exports and API lists, found in the route
table — is asked as a vendor lead and as a vendor viewer with each filter it reads
(recorded while it answers, so a filter added later must be classified here) and with
the names of every filter that could name a person or an internal object (inspector,
reviewer, assignee, created_by, actor, sample, plan, job, user ids...), given QA
people's emails, ids and pseudonyms, open samples, plans and other people's jobs:

- a filter naming a person or an internal object is ignored (the answer is the
  unfiltered one) or refused (4xx with a message) — it never narrows the list;
- another vendor's code, in any filter and any spelling, never shows that vendor's
  rows: 404, or an answer without them.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from urllib.parse import quote, urlencode

import pytest
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.utils import cached_property

from app.extensions import db
from app.models import Job
from app.security.access import policy_for
from app.security.roles import VENDOR_ROLES
from app.security.tokens import QUERY_TOKEN_NAMES
from app.tokens.services import create_token
from app.web import PortalRequest
from tests.builders.world import module_world
from tests.factories import (
    ContractFactory,
    DecisionFactory,
    InspectionFactory,
    SampleFactory,
    SampleItemFactory,
    SamplingPlanFactory,
    UserFactory,
    VendorFactory,
)
from tests.refs import ref

MONTH = "2026-01"

# Every list a vendor user reaches: URL templates filled from the world. The route
# table test below fails when a GET route a vendor user may reach (without ids in its
# URL, or with only a vendor code) is missing here.
LISTS = [
    "/",
    "/dashboards/",
    "/dashboards/vendors/{code}?month={month}",
    "/decisions/",
    "/decisions/export.csv",
    "/inspections/",
    "/inspections/export.csv",
    "/jobs/",
    "/labels/",
    "/sampling/",
    "/sampling/{sample_id}",  # the sample's items, with their own filters
    "/scorecards/",
    "/vendors/",
    "/vendors/{code}",
    "/api/v1/decisions",
    "/api/v1/inspections",
    "/api/v1/labels",
    "/api/v1/me",
    "/api/v1/samples",
    "/api/v1/scorecards",
    "/api/v1/vendors",
    "/api/v1/vendors/{code}",
    "/api/v1/vendors/{code}/metrics?month={month}",
]
# GET routes vendor users reach that list nothing.
NOT_LISTS = {"/auth/password": "the password form"}

# Every query argument a list reads for a vendor user, by what it names: "person" and
# "internal" (an object vendor users may not see) must change nothing; "vendor" is a
# vendor's code; "plain" narrows by the vendor's own data (dates, states, areas...).
FILTERS = {
    "inspector": "person",
    "vendor": "vendor",
    "month": "plain",
    "status": "plain",
    "state": "plain",
    "purpose": "plain",
    "policy_area": "plain",
    "area": "plain",
    "market": "plain",
    "site": "plain",
    "moderator": "plain",
    "moderator_id": "plain",
    "decision": "plain",
    "label": "plain",
    "external_id": "plain",
    "q": "plain",
    "outcome": "plain",
    "severity": "plain",
    "applied": "plain",
    "expected": "plain",
    "stratum": "plain",
    "active": "plain",
    "sort": "plain",
    "msort": "plain",
    "page": "plain",
    "limit": "plain",
    "cursor": "plain",
    # A bearer token in the query string is refused by the API (app/security/tokens.py).
    **dict.fromkeys(QUERY_TOKEN_NAMES, "credential"),
}
# Names a filter on a person or an internal object could have, tried on every list
# whether or not it reads them.
PERSON_NAMES = (
    "inspector",
    "inspector_id",
    "inspector_email",
    "reviewer",
    "reviewer_id",
    "assignee",
    "assignee_id",
    "created_by",
    "created_by_id",
    "creator",
    "actor",
    "actor_id",
    "author",
    "changed_by",
    "user",
    "user_id",
    "owner",
    "email",
    "rater",
    "whose",
)
INTERNAL_NAMES = ("sample", "sample_id", "plan", "plan_id", "job", "job_id", "token_id")


def _inspection(decision, inspector, status: str, item=None):
    final = status == "final"
    return InspectionFactory(
        decision=decision,
        sample_item=item,
        inspector=inspector,
        status=status,
        expected_decision=decision.decision,
        severity="none",
        correct=True,
        decision_match=True,
        purpose="contract",
        finalised_at=datetime(2026, 2, 3, tzinfo=UTC) if final else None,
    )


def _vendor_side(code: str, name: str, alice, bob) -> dict:
    """One vendor: decisions in January 2026, a plan, a closed sample whose items Alice
    and Bob inspected (final), an open sample assigned to Alice, and her draft."""
    vendor = VendorFactory(code=code, name=name)
    ContractFactory(vendor=vendor)
    decisions = [
        DecisionFactory(
            vendor=vendor,
            external_id=f"{code}-DEC-{n}",
            item_id=f"{code}-ITEM-{n}",
            moderator_id=f"{code}-MOD-{n % 2}",
            market="US" if n % 2 else "PH",
            decided_at=datetime(2026, 1, 10 + n, 12, tzinfo=UTC),
        )
        for n in range(4)
    ]
    plan = SamplingPlanFactory(vendor=vendor, name=f"{code} plan")

    def sample(state: str, **extra):
        return SampleFactory(
            vendor=vendor,
            plan=plan,
            state=state,
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            closed_at=datetime(2026, 2, 2, tzinfo=UTC) if state == "closed" else None,
            **extra,
        )

    closed, open_ = sample("closed"), sample("open")
    items = [
        SampleItemFactory(sample=closed, decision=decisions[n], assignee=person, rank=n + 1)
        for n, person in enumerate((alice, bob))
    ]
    inspections = []
    for item in items:
        item.status = "inspected"
        inspections.append(_inspection(item.decision, item.assignee, "final", item))
    open_item = SampleItemFactory(sample=open_, decision=decisions[3], assignee=alice)
    inspections.append(_inspection(decisions[2], alice, "draft"))
    return {
        "vendor": vendor,
        "decisions": decisions,
        "plan": plan,
        "closed": closed,
        "open": open_,
        "open_item": open_item,
        "inspections": inspections,
    }


@module_world
def world():
    """Two vendors (FLTOWN, FLTOTH) with the same QA people at work; the own vendor's
    lead and viewer with API tokens; jobs of a vendor user and of an admin."""
    alice = UserFactory(role="qa_inspector", name="Alice Auditor", email="alice@qa.example.test")
    bob = UserFactory(role="qa_inspector", name="Bob Checker", email="bob@qa.example.test")
    admin = UserFactory(role="admin")
    own = _vendor_side("FLTOWN", "Ownco Moderation", alice, bob)
    other = _vendor_side("FLTOTH", "Otherco Moderation", alice, bob)
    users = {role: UserFactory(role=role, vendor=own["vendor"]) for role in VENDOR_ROLES}
    tokens = {role: create_token(user, name="filters")[1] for role, user in users.items()}
    jobs = {}
    for key, creator in (("vendor", users["vendor_lead"]), ("admin", admin)):
        jobs[key] = Job(kind="decisions.import", state="succeeded", created_by=creator)
        db.session.add(jobs[key])
    db.session.commit()
    return {
        "alice": alice,
        "bob": bob,
        "own": own,
        "other": other,
        "users": users,
        "tokens": tokens,
        "admin_job": jobs["admin"],
    }


# Recording which query arguments a view reads ------------------------------------------


class RecordingArgs(ImmutableMultiDict):
    read: set[str] = set()

    def __getitem__(self, key):
        RecordingArgs.read.add(key)
        return super().__getitem__(key)

    def getlist(self, key, type=None):
        RecordingArgs.read.add(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        RecordingArgs.read.add(key)
        return super().__contains__(key)


class RecordingRequest(PortalRequest):
    @cached_property
    def args(self) -> ImmutableMultiDict:
        return RecordingArgs(super().args.items(multi=True))


@pytest.fixture
def recording(app, monkeypatch):
    monkeypatch.setattr(app, "request_class", RecordingRequest)
    return RecordingArgs


# Asking ---------------------------------------------------------------------------------


class Asker:
    """A vendor user asking lists, signed in to the pages and with an API token."""

    def __init__(self, client, world, role: str, tried):
        self.client, self.world, self.tried = client, world, tried
        self.headers = {"Authorization": f"Bearer {world['tokens'][role]}"}

    def url(self, template: str) -> str:
        own = self.world["own"]
        return template.format(code=own["vendor"].code, month=MONTH, sample_id=ref(own["closed"]))

    def get(self, template: str, params: list[tuple[str, str]] = ()):
        url = self.url(template)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        headers = self.headers if url.startswith("/api/") else {}
        self.tried()
        return self.client.get(url, headers=headers)


def _answer(response, echoed: list[str]) -> object:
    """What an answer shows, for comparing: the JSON or CSV body, a redirect's target,
    or the page without what changes by request (nonces, CSRF tokens), query strings of
    its links (which carry the filters back), and the values that were sent."""
    if response.is_json:
        return response.status_code, response.get_json()
    if response.status_code in (301, 302, 303):
        return response.status_code, response.headers["Location"]
    text = response.get_data(as_text=True)
    if response.mimetype != "text/html":
        return response.status_code, text
    text = re.sub(r'nonce="[^"]*"', "", text)
    text = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r"\1", text)
    text = re.sub(r'((?:href|action)="[^"?]*)\?[^"]*"', r'\1"', text)
    for value in echoed:
        for form in {value, quote(value), quote(value, safe=""), value.replace("@", "&#64;")}:
            text = text.replace(form, "")
    return response.status_code, text


def _refused(response) -> bool:
    """A refusal with a message the user can read."""
    return 400 <= response.status_code < 500 and len(response.get_data()) > 0


def _leaks(response, world, sent: list[str]) -> list[str]:
    """What of the other vendor an answer shows: its code, name, decisions' external
    ids, item ids and moderators, and (on pages) links to its decisions, samples and
    inspections. A page's search boxes and links echo what was sent; that is not shown
    data, so sent words are taken out of pages first."""
    other = world["other"]
    words = [other["vendor"].code, other["vendor"].name]
    for d in other["decisions"]:
        words += [d.external_id, d.item_id, d.moderator_id]
    body = response.get_data(as_text=True)
    links = []
    if response.mimetype == "text/html":
        for value in {v.strip() for v in sent if not v.strip().isdigit()}:
            for form in {value, quote(value), quote(value, safe=""), value.lower()}:
                body = body.replace(form, "")
        links = [f'/decisions/{ref(d)}"' for d in other["decisions"]]
        links += [f'/sampling/{ref(s)}"' for s in (other["closed"], other["open"])]
        links += [f'/inspections/{ref(i)}"' for i in other["inspections"]]
    return [marker for marker in words + links if marker in body]


def _probe_values(world) -> dict[str, list[str]]:
    alice, bob = world["alice"], world["bob"]
    own = world["own"]
    return {
        "person": [
            alice.email,
            str(alice.id),
            alice.pseudonym,
            bob.email,
            str(bob.id),
            bob.pseudonym,
            alice.name,
        ],
        "internal": [
            str(own["open"].id),
            str(ref(own["open"])),
            str(own["plan"].id),
            str(world["admin_job"].id),
            str(ref(world["admin_job"])),
            own["plan"].name,
        ],
    }


# The tests -------------------------------------------------------------------------------


def test_every_list_a_vendor_user_reaches_is_probed(app):
    listed = {template.split("?")[0] for template in LISTS}
    missing = []
    for rule in app.url_map.iter_rules():
        policy = policy_for(app, rule.endpoint)
        if "GET" not in rule.methods or policy is None or policy.kind == "public":
            continue
        if not set(VENDOR_ROLES) & set(policy.roles) or set(rule.arguments) - {"code"}:
            continue
        path = rule.rule.replace("<key:code>", "{code}")
        if path not in listed and rule.rule not in NOT_LISTS:
            missing.append(rule.rule)
    assert missing == [], (
        f"lists vendor users reach that test_list_filters does not probe: {missing}"
    )


@pytest.mark.promise("pseudonyms")
@pytest.mark.parametrize("role", VENDOR_ROLES)
@pytest.mark.parametrize("template", LISTS)
def test_filters_naming_people_or_internal_objects_change_nothing(
    client, auth, world, recording, role, template, tried
):
    auth.login(world["users"][role])
    ask = Asker(client, world, role, tried)
    recording.read = set()
    baseline = ask.get(template)
    assert baseline.status_code < 400, f"{template}: {baseline.status_code}"
    read = set(recording.read)
    unclassified = sorted(read - set(FILTERS))
    assert unclassified == [], f"{template} reads filters FILTERS does not classify: {unclassified}"

    values = _probe_values(world)
    # Every name at once, then each name the list reads on its own.
    probes = []
    for kind, names in (("person", PERSON_NAMES), ("internal", INTERNAL_NAMES)):
        probes += [[(name, value) for name in names] for value in values[kind]]
    for name in sorted(read):
        if FILTERS[name] in ("person", "internal"):
            probes += [[(name, value)] for value in values[FILTERS[name]]]

    narrowed = []
    for params in probes:
        response = ask.get(template, params)
        if _refused(response):
            continue
        echoed = [value for _, value in params]
        if _answer(response, echoed) != _answer(baseline, echoed):
            narrowed.append(f"{ask.url(template)} {params[:2]}... -> {response.status_code}")
    assert narrowed == []


@pytest.mark.promise("isolation")
@pytest.mark.parametrize("role", VENDOR_ROLES)
@pytest.mark.parametrize("template", LISTS)
def test_no_filter_shows_another_vendors_rows(
    client, auth, world, recording, role, template, tried
):
    auth.login(world["users"][role])
    ask = Asker(client, world, role, tried)
    recording.read = set()
    assert ask.get(template).status_code < 400
    read = sorted(recording.read | {"vendor", "q", "external_id"})
    other, own = world["other"], world["own"]
    other_code, own_code = other["vendor"].code, own["vendor"].code
    probes = [
        [("vendor", other_code)],
        [("vendor", other_code.lower())],
        [("vendor", f" {other_code} ")],
        [("vendor", own_code), ("vendor", other_code)],
        [("vendor", other_code), ("vendor", own_code)],
    ]
    first = other["decisions"][0]
    other_values = [other_code, first.external_id, first.item_id, first.moderator_id]
    other_values += [str(ref(other["closed"])), str(other["closed"].id), str(other["plan"].id)]
    probes += [[(name, value)] for name in read for value in other_values]
    leaks = []
    for params in probes:
        response = ask.get(template, params)
        assert response.status_code < 500, f"{template} {params} -> {response.status_code}"
        if response.status_code >= 400:
            continue
        shown = _leaks(response, world, [value for _, value in params])
        if shown:
            leaks.append(f"{ask.url(template)} {params} shows {shown}")
    assert leaks == []


@pytest.mark.promise("pseudonyms")
def test_the_probes_see_a_filter_that_narrows(client, auth, world, tried):
    """The same probe, as a QA lead (who may filter on people), sees the list narrow:
    the comparison would catch a filter that narrows for vendor users."""
    lead = UserFactory(role="qa_lead")
    _, token = create_token(lead, name="lead")
    headers = {"Authorization": f"Bearer {token}"}
    everything = client.get("/api/v1/inspections", headers=headers).get_json()["items"]
    alice = world["alice"].email
    hers = client.get(f"/api/v1/inspections?inspector={alice}", headers=headers).get_json()
    tried(2)
    assert 0 < len(hers["items"]) < len(everything)
    assert {item["inspector"] for item in hers["items"]} == {alice}


@pytest.mark.promise("isolation")
@pytest.mark.parametrize("role", VENDOR_ROLES)
def test_samples_through_the_api_name_no_plan_to_vendor_users(client, world, role, tried):
    """Vendor users never see sampling plans (the sample page names none to them); the
    API does not give them a plan's id either."""
    headers = {"Authorization": f"Bearer {world['tokens'][role]}"}
    sample = world["own"]["closed"]
    listed = client.get("/api/v1/samples", headers=headers).get_json()["items"]
    one = client.get(f"/api/v1/samples/{ref(sample)}", headers=headers).get_json()
    tried(2)
    assert [item["id"] for item in listed] == [ref(sample)]
    assert listed[0]["plan"] is None
    assert one["plan"] is None
