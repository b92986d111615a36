"""The /dashboards pages as people read them (DESIGN §1, §3, §7): a vendor's month shows
the numbers of the metrics API, every number links to exactly the inspections it
counts, target status and flagged moderators follow the intervals, the trend is an
inline SVG, vendor users see their own vendor only, and the QA overview lists
every vendor."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from app import months
from app.extensions import db
from app.metrics.definitions import wilson_interval
from app.models.enums import POLICY_AREA_NAMES
from app.months import last_closed as last_month
from tests.builders import inspections
from tests.builders.metrics import SHARE_NAMES, build_month, correct
from tests.builders.world import module_world
from tests.factories import ContractFactory, LabelFactory, UserFactory, VendorFactory
from tests.refs import row_id

MARCH = "2026-03"
DASH = "\u2013"  # between an interval's bounds
STATUS_TEXT = {
    "met": "met",
    "missed": "missed",
    "indistinguishable": "indistinguishable",
    "no_data": "no data",
    None: "no target",
}
TILE_NAMES = {
    "overall_accuracy": "Overall accuracy",
    "decision_accuracy": "Decision accuracy",
    "label_accuracy": "Label accuracy",
    "false_negative_rate": "False negatives",
    "false_positive_rate": "False positives",
    "critical_error_rate": "Critical errors",
}
BREAKDOWN_TITLES = {
    "policy_area": "By policy area",
    "market": "By market",
    "site": "By site",
    "moderator": "Moderators",
}


# Reading the page --------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}


class Node:
    """An element of a parsed page: tag, attributes, children (elements and text)."""

    def __init__(self, tag: str, attrs, parent: Node | None = None):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children: list = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def iter(self):
        yield self
        for child in self.elements():
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.iter()
            if n is not self and (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]

    def find(self, tag: str | None = None, cls: str | None = None) -> Node | None:
        found = self.find_all(tag, cls)
        return found[0] if found else None

    def text(self) -> str:
        parts: list[str] = []

        def walk(node: Node) -> None:
            for child in node.children:
                if isinstance(child, str):
                    parts.append(child)
                else:
                    walk(child)

        walk(self)
        return " ".join("".join(parts).split())


class _Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {})

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(response) -> Node:
    tree = _Tree()
    tree.feed(response.get_data(as_text=True))
    tree.close()
    return tree.root


def pct(value) -> str:
    """A share as the page formats it: one decimal percent."""
    return "—" if value is None else f"{value * 100:.1f}%"


def tiles(doc: Node) -> dict[str, Node]:
    """The KPI tiles by their title."""
    found = {}
    for body in doc.find_all("div", "card-body"):
        first = body.elements()[:1]
        if first and first[0].tag == "div" and "text-muted" in first[0].classes:
            found[first[0].text()] = body
    return found


def tile_figures(tile: Node) -> dict:
    parts = tile.elements()  # title, value, then the interval or the scored count
    value = parts[1]
    link = value.find("a")
    badge = tile.find("span", "badge")
    return {
        "value": value.text(),
        "href": link.attrs["href"] if link is not None else None,
        "detail": parts[2].text() if len(parts) > 2 else "",
        "badge": badge.text() if badge is not None else None,
        "card": tile.parent.classes,
    }


def tables_by_heading(doc: Node) -> dict[str, Node]:
    """Each table under the h2 it follows (the first table after each heading)."""
    found, heading = {}, None
    for node in doc.iter():
        if node.tag == "h2":
            heading = node.text()
        elif node.tag == "table" and heading is not None and heading not in found:
            found[heading] = node
    return found


def rows_of(table: Node) -> list[list[Node]]:
    body = table.find("tbody")
    return [[c for c in tr.elements() if c.tag in ("td", "th")] for tr in body.find_all("tr")]


def share_text(share: dict) -> str:
    """A share cell as the page writes it: value (interval) count/n."""
    if not share["n"]:
        return "—"
    return (
        f"{pct(share['value'])} ({pct(share['ci_low'])}{DASH}{pct(share['ci_high'])})"
        f" {share['count']}/{share['n']}"
    )


def listed_ids(response) -> set[int]:
    page = response.get_data(as_text=True)
    return {row_id(int(i)) for i in re.findall(r'href="/inspections/(\d+)">#\1</a>', page)}


def follow(client, href: str):
    response = client.get(href)
    assert response.status_code == 200, href
    return response


def api_metrics(api_client, user, code: str, month: str) -> dict:
    response = api_client(user).get(f"/api/v1/vendors/{code}/metrics?month={month}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# The realistic month of test_metrics -------------------------------------------------------


@module_world
def world():
    """ACME's March 2026 (27 contract inspections, targeted ones, drafts, other months)
    and GLOBEX's, with a contract for ACME: accuracy ≥ 75%, critical errors ≤ 5%."""
    world = build_month()
    ContractFactory(
        vendor=world.vendor,
        effective_month=date(2026, 1, 1),
        accuracy_target=0.75,
        critical_error_cap=0.05,
    )
    db.session.commit()
    return world


@pytest.mark.parametrize("role", ["qa_lead", "qa_inspector", "vendor_viewer", "vendor_lead"])
def test_the_vendor_dashboard_shows_the_numbers_of_the_metrics_api(
    client, login_as, api_client, world, role
):
    user = login_as(role, vendor=world.vendor if role.startswith("vendor") else None)
    response = client.get(f"/dashboards/vendors/ACME?month={MARCH}")
    assert response.status_code == 200
    body = api_metrics(api_client, user, "ACME", MARCH)
    assert body["inspected"] == 27  # the fixture's month, so the test means something
    doc = parse(response)
    shown = {name: tile_figures(t) for name, t in tiles(doc).items()}

    assert shown["Inspected"]["value"] == str(body["inspected"])
    for name, title in TILE_NAMES.items():
        share = body[name]
        tile = shown[title]
        assert tile["value"] == pct(share["value"]), name
        assert tile["detail"] == (
            f"95% CI {pct(share['ci_low'])}{DASH}{pct(share['ci_high'])}"
            f" · {share['count']}/{share['n']}"
        ), name
    targets = body["targets"]
    for name, title in (
        ("overall_accuracy", TILE_NAMES["overall_accuracy"]),
        ("critical_error_rate", TILE_NAMES["critical_error_rate"]),
    ):
        assert shown[title]["badge"] == STATUS_TEXT[targets[name]["status"]], name
    assert targets["overall_accuracy"]["status"] == "missed"
    assert "border-danger" in shown["Overall accuracy"]["card"]
    rubric = shown["Rubric score (mean)"]
    assert rubric["value"] == f"{body['rubric_score']['value']:.1f}"

    tables = tables_by_heading(doc)
    for key, title in BREAKDOWN_TITLES.items():
        api_rows = {row["key"]: row for row in body["breakdowns"][key]}
        page_rows = {}
        for cells in rows_of(tables[title]):
            label = cells[0].text().replace("flagged", "").strip()
            page_rows[label] = cells
        names = {POLICY_AREA_NAMES[k] if key == "policy_area" else k: k for k in api_rows}
        assert set(page_rows) == set(names), key
        for label, cells in page_rows.items():
            row = api_rows[names[label]]
            assert cells[1].text() == str(row["inspected"]), (key, label)
            assert cells[2].text() == share_text(row["overall_accuracy"]), (key, label)
    targeted = rows_of(next(t for h, t in tables.items() if h.startswith("Targeted")))
    assert targeted[0][0].text() == str(body["targeted"]["inspected"]) == "5"
    for cell, name in zip(targeted[0][1:], SHARE_NAMES, strict=True):
        assert cell.text() == share_text(body["targeted"][name]), name


def test_every_breakdown_cell_matches_the_api(client, login_as, api_client, world):
    user = login_as("qa_lead")
    doc = parse(client.get(f"/dashboards/vendors/ACME?month={MARCH}"))
    body = api_metrics(api_client, user, "ACME", MARCH)
    tables = tables_by_heading(doc)
    for key in ("policy_area", "market", "site"):
        for cells, row in zip(
            rows_of(tables[BREAKDOWN_TITLES[key]]), body["breakdowns"][key], strict=True
        ):
            for cell, name in zip(cells[2:], SHARE_NAMES, strict=True):
                assert cell.text() == share_text(row[name]), (key, row["key"], name)


def drill(doc: Node, table: str, label: str, column: int) -> str:
    for cells in rows_of(tables_by_heading(doc)[table]):
        if cells[0].text().replace("flagged", "").strip() == label:
            return cells[column].find("a").attrs["href"]
    raise AssertionError(f"no row {label} in {table}")


@pytest.mark.parametrize("role", ["qa_lead", "vendor_viewer"])
def test_drill_down_links_list_exactly_the_inspections_a_number_counts(
    client, login_as, world, role
):
    login_as(role, vendor=world.vendor if role == "vendor_viewer" else None)
    doc = parse(client.get(f"/dashboards/vendors/ACME?month={MARCH}"))
    shown = {name: tile_figures(t) for name, t in tiles(doc).items()}
    contract = world.contract

    def ids(cases):
        return {c.inspection.id for c in cases}

    accuracy = shown["Overall accuracy"]["href"]
    args = parse_qs(urlsplit(accuracy).query)
    assert args["month"] == [MARCH] and args["status"] == ["final"]
    assert args["purpose"] == ["contract"] and args["outcome"] == ["incorrect"]
    incorrect = ids(c for c in contract if not correct(c))
    assert len(incorrect) == 16
    assert listed_ids(follow(client, accuracy)) == incorrect

    assert listed_ids(follow(client, shown["Inspected"]["href"])) == ids(contract)
    assert listed_ids(follow(client, shown["Critical errors"]["href"])) == ids(
        c for c in contract if c.severity == "critical"
    )
    assert listed_ids(follow(client, shown["False negatives"]["href"])) == ids(
        c for c in contract if c.decision == "approve" and c.expected == "reject"
    )
    assert listed_ids(follow(client, shown["False positives"]["href"])) == ids(
        c for c in contract if c.decision == "reject" and c.expected == "approve"
    )
    assert listed_ids(follow(client, shown["Decision accuracy"]["href"])) == ids(
        c for c in contract if c.decision != c.expected
    )
    assert listed_ids(follow(client, shown["Label accuracy"]["href"])) == ids(
        c
        for c in contract
        if c.decision == c.expected == "reject" and set(c.labels) != set(c.expected_labels)
    )

    # A moderator's row: all of theirs, and their incorrect ones.
    mod_a = [c for c in contract if c.moderator == "MOD-A"]
    assert listed_ids(follow(client, drill(doc, "Moderators", "MOD-A", 1))) == ids(mod_a)
    assert listed_ids(follow(client, drill(doc, "Moderators", "MOD-A", 2))) == ids(
        c for c in mod_a if not correct(c)
    )
    # A market's row, a site's, a policy area's.
    assert listed_ids(follow(client, drill(doc, "By market", "PH", 1))) == ids(
        c for c in contract if c.market == "PH"
    )
    assert listed_ids(follow(client, drill(doc, "By site", "Cebu", 2))) == ids(
        c for c in contract if c.site == "Cebu" and not correct(c)
    )
    assert listed_ids(follow(client, drill(doc, "By policy area", "Seller", 1))) == ids(
        c for c in contract if c.area == "seller"
    )
    # The targeted section lists the targeted (and hand-picked) inspections only.
    targeted = next(t for h, t in tables_by_heading(doc).items() if h.startswith("Targeted"))
    link = rows_of(targeted)[0][0].find("a").attrs["href"]
    assert listed_ids(follow(client, link)) == ids(world.targeted)


def label_code(cell: Node) -> str:
    """The label code a confusion cell names ("Approve (no label)": approve)."""
    first = cell.text().split()[0]
    return "approve" if first == "Approve" else first


@module_world
def confused():
    """CONF's March: QA agrees with six LST-A rejects and four approves; it expected
    LST-B for three LST-A rejects, approve for two, and LST-A for one approve."""
    inspections.scorecard("listing")
    label_a = LabelFactory(policy_area="listing", code="LST-A", name="Counterfeit goods")
    label_b = LabelFactory(policy_area="listing", code="LST-B", name="Prohibited item")
    vendor = VendorFactory(code="CONF", name="Confusion Co")
    inspector = UserFactory(role="qa_inspector")
    plan = (
        [(label_a, label_a)] * 6
        + [(None, None)] * 4
        + [(label_a, label_b)] * 3
        + [(label_a, None)] * 2
        + [(None, label_a)]
    )
    start = month_start(MARCH)
    rows = [
        inspections.decision(
            vendor, decided=start + timedelta(hours=i + 1), labels=[applied] if applied else []
        )
        for i, (applied, _) in enumerate(plan)
    ]
    inspections.sample_of(vendor, rows)
    for row, (applied, expected) in zip(rows, plan, strict=True):
        if applied == expected:
            inspections.inspect(row, inspector)
        else:
            inspections.inspect(
                row,
                inspector,
                expected="reject" if expected else "approve",
                expected_labels=[expected.code] if expected else [],
                severity="major",
            )
    db.session.commit()
    return vendor


def confusion_link_ids(client, href: str) -> int:
    return len(listed_ids(follow(client, href)))


def test_label_confusion_shows_the_disagreements_first_largest_first(client, login_as, confused):
    """The confusion once listed every pair alphabetically, so the one mismatch hid among
    dozens of agreements."""
    login_as("qa_lead")
    doc = parse(client.get(f"/dashboards/vendors/CONF?month={MARCH}"))

    summary = next(p for p in doc.find_all("p") if p.attrs.get("id") == "confusion-summary")
    assert summary.text() == (
        "QA agreed with the primary label in 10 of 16 inspections (62.5%)."
        " 6 disagreed, in 3 pairs of labels, largest first:"
    )
    table = tables_by_heading(doc)["Label confusion"]  # the first table: the mismatches
    shown = [
        (label_code(cells[0]), label_code(cells[1]), cells[2].text(), cells[3].text())
        for cells in rows_of(table)
    ]
    assert shown == [
        ("LST-A", "LST-B", "Rejected under another label", "3"),
        ("LST-A", "approve", "Rejected, should have been approved", "2"),
        ("approve", "LST-A", "Approved, should have been rejected", "1"),
    ]
    first = rows_of(table)[0]
    assert first[0].text() == "LST-A Counterfeit goods"  # the name says what a code means
    assert first[1].text() == "LST-B Prohibited item"
    for cells, (*_, count) in zip(rows_of(table), shown, strict=True):
        link = cells[3].find("a")
        assert confusion_link_ids(client, link.attrs["href"]) == int(count)
        assert link.attrs["aria-label"].startswith(f"{count} inspection")

    # The agreements come after, summed up, each still a drill-down.
    details = doc.find("details")
    assert details.find("summary").text() == "Agreements: 10 inspections over 2 labels"
    agreements = [(label_code(c[0]), c[1].text()) for c in rows_of(details.find("table"))]
    assert agreements == [("LST-A", "6"), ("approve", "4")]
    for cells in rows_of(details.find("table")):
        href = cells[1].find("a").attrs["href"]
        assert confusion_link_ids(client, href) == int(cells[1].text())


def test_label_confusion_of_the_realistic_month_links_every_pair(client, login_as, world):
    login_as("qa_lead")
    doc = parse(client.get(f"/dashboards/vendors/ACME?month={MARCH}"))

    def primary(labels) -> str:
        return labels[0] if labels else "approve"

    pairs = Counter((primary(c.labels), primary(c.expected_labels)) for c in world.contract)
    table = tables_by_heading(doc)["Label confusion"]
    shown = {(label_code(c[0]), label_code(c[1])): c[3] for c in rows_of(table)}
    assert set(shown) == {pair for pair in pairs if pair[0] != pair[1]}
    for (applied, expected), cell in shown.items():
        wanted = {
            c.inspection.id
            for c in world.contract
            if (primary(c.labels), primary(c.expected_labels)) == (applied, expected)
        }
        assert cell.text() == str(len(wanted))
        assert listed_ids(follow(client, cell.find("a").attrs["href"])) == wanted


# Target status -------------------------------------------------------------------------------


def month_start(text: str) -> datetime:
    return datetime.combine(inspections.month(text), datetime.min.time(), tzinfo=UTC)


def inspected(vendor, inspector, label, when: datetime, verdicts, *, moderator="MOD-1"):
    """Approves of `vendor` decided from `when`, in a contract sample, each inspected:
    `ok` (QA agrees), `wrong` (should have been rejected, major) or `critical`."""
    rows = [
        inspections.decision(vendor, decided=when + timedelta(hours=i + 1), moderator_id=moderator)
        for i in range(len(verdicts))
    ]
    inspections.sample_of(vendor, rows)
    made = []
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict == "ok":
            made.append(inspections.inspect(row, inspector))
        else:
            made.append(
                inspections.inspect(
                    row,
                    inspector,
                    expected="reject",
                    expected_labels=[label.code],
                    severity="major" if verdict == "wrong" else "critical",
                )
            )
    return made


@module_world
def statuses():
    """TGT against accuracy ≥ 50% and critical errors ≤ 30%: January met both, February
    missed both, March cannot tell, April has no data."""
    inspections.scorecard("listing")
    label = LabelFactory(policy_area="listing")
    vendor = VendorFactory(code="TGT", name="Target Testers")
    ContractFactory(
        vendor=vendor,
        effective_month=date(2026, 1, 1),
        accuracy_target=0.5,
        critical_error_cap=0.3,
    )
    inspector = UserFactory(role="qa_inspector")
    inspected(vendor, inspector, label, month_start("2026-01"), ["ok"] * 10)
    inspected(vendor, inspector, label, month_start("2026-02"), ["critical"] * 10)
    inspected(
        vendor,
        inspector,
        label,
        month_start("2026-03"),
        ["ok"] * 5 + ["wrong"] * 2 + ["critical"] * 3,
    )
    db.session.commit()
    return vendor


CASES = [
    # month, accuracy status, critical status, (correct, n), (critical, n)
    ("2026-01", "met", "met", (10, 10), (0, 10)),
    ("2026-02", "missed", "missed", (0, 10), (10, 10)),
    ("2026-03", "indistinguishable", "indistinguishable", (5, 10), (3, 10)),
    ("2026-04", "no_data", "no_data", (0, 0), (0, 0)),
]


@pytest.mark.parametrize(("month", "accuracy", "critical", "right", "crit"), CASES)
def test_target_status_badges(
    client, login_as, api_client, statuses, month, accuracy, critical, right, crit
):
    # The premises, from the Wilson interval itself.
    if right[1]:
        low, high = wilson_interval(*right)
        assert {"met": low >= 0.5, "missed": high < 0.5}.get(accuracy, low < 0.5 <= high)
        low, high = wilson_interval(*crit)
        assert {"met": high <= 0.3, "missed": low > 0.3}.get(critical, low <= 0.3 < high)
    user = login_as("qa_lead")
    response = client.get(f"/dashboards/vendors/TGT?month={month}")
    assert response.status_code == 200
    shown = {name: tile_figures(t) for name, t in tiles(parse(response)).items()}
    assert shown["Overall accuracy"]["badge"] == STATUS_TEXT[accuracy]
    assert shown["Critical errors"]["badge"] == STATUS_TEXT[critical]
    assert "target ≥ 50.0%" in tiles(parse(response))["Overall accuracy"].text()
    assert "cap ≤ 30.0%" in tiles(parse(response))["Critical errors"].text()
    if accuracy == "met":
        assert "border-success" in shown["Overall accuracy"]["card"]
    if accuracy == "missed":
        assert "border-danger" in shown["Overall accuracy"]["card"]
    if accuracy == "no_data":
        assert shown["Overall accuracy"]["value"] == "—"
        assert shown["Overall accuracy"]["detail"] == "no data"
        assert "No final contract inspections for April 2026 yet." in response.get_data(
            as_text=True
        )
    body = api_metrics(api_client, user, "TGT", month)
    assert body["targets"]["overall_accuracy"]["status"] == accuracy
    assert body["targets"]["critical_error_rate"]["status"] == critical
    assert (body["overall_accuracy"]["count"], body["inspected"]) == right

    # The QA overview says the same of that month.
    overview = parse(client.get(f"/dashboards/?month={month}"))
    row = next(
        cells for cells in rows_of(overview.find("table")) if cells[0].text().startswith("TGT")
    )
    assert row[1].text() == str(right[1])
    assert row[4].text() == STATUS_TEXT[accuracy]
    assert row[7].text() == STATUS_TEXT[critical]


def test_a_month_before_the_contract_has_no_target(client, login_as, statuses):
    login_as("qa_lead")
    response = client.get("/dashboards/vendors/TGT?month=2025-12")
    assert response.status_code == 200
    assert "No contract is in force this month: no targets." in response.get_data(as_text=True)
    shown = {name: tile_figures(t) for name, t in tiles(parse(response)).items()}
    assert shown["Overall accuracy"]["badge"] == "no target"
    assert shown["Critical errors"]["badge"] == "no target"


# The trend chart -------------------------------------------------------------------------------


def trend_svgs(doc: Node) -> list[Node]:
    """The trend charts drawn for wide screens (each has a narrow twin for phones)."""
    return [
        svg
        for svg in doc.find_all("svg")
        if (svg.attrs.get("aria-labelledby") or "").startswith("trend-")
        and "-narrow-" not in svg.attrs["aria-labelledby"]
    ]


def test_the_six_month_trend_is_an_inline_svg_with_a_point_per_month(client, login_as):
    inspections.scorecard("listing")
    label = LabelFactory(policy_area="listing")
    vendor = VendorFactory(code="TREND", name="Trend Co")
    ContractFactory(vendor=vendor, effective_month=date(2025, 1, 1), accuracy_target=0.6)
    inspector = UserFactory(role="qa_inspector")
    months = ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    for i, month in enumerate(months):
        inspected(vendor, inspector, label, month_start(month), ["ok"] * (i + 1) + ["wrong"])
    # Outside the six months: not drawn.
    inspected(vendor, inspector, label, month_start("2025-09"), ["ok"])
    inspected(vendor, inspector, label, month_start("2026-04"), ["ok"])
    db.session.commit()
    login_as("qa_lead")
    response = client.get("/dashboards/vendors/TREND?month=2026-03")
    assert response.status_code == 200
    charts = trend_svgs(parse(response))
    assert len(charts) == 2  # accuracy and critical errors
    for svg in charts:
        markers = svg.find_all(cls="qa-chart-marker")
        assert len(markers) == 6
        titles = [m.find("title").text() for m in markers]
        for title, month in zip(titles, months, strict=True):
            assert datetime.strptime(month, "%Y-%m").strftime("%b %Y") in title
        for node in svg.iter():
            assert "style" not in node.attrs, node.tag
            assert node.tag != "style"
    accuracy = charts[0]
    titles = [m.find("title").text() for m in accuracy.find_all(cls="qa-chart-marker")]
    # October: 1 of 2 right; March: 6 of 7.
    assert "50.0%" in titles[0] and "85.7%" in titles[-1]
    # Each point links to its month's dashboard.
    links = [a.attrs.get("href") for a in accuracy.find_all("a")]
    assert "/dashboards/vendors/TREND?month=2025-10" in links
    assert "/dashboards/vendors/TREND?month=2026-03" in links


def test_months_without_data_are_gaps_in_the_trend(client, login_as, statuses):
    login_as("qa_lead")
    response = client.get("/dashboards/vendors/TGT?month=2026-04")
    accuracy = trend_svgs(parse(response))[0]
    assert len(accuracy.find_all(cls="qa-chart-marker")) == 3  # January to March
    assert len(accuracy.find_all(cls="qa-chart-no-data")) == 3  # November, December, April
    page = response.get_data(as_text=True)
    assert "style=" not in page[page.index("<svg") : page.rindex("</svg>")]


# Flagged moderators -----------------------------------------------------------------------------


def test_a_moderator_is_flagged_only_when_the_interval_is_below_target(
    client, login_as, api_client
):
    inspections.scorecard("listing")
    label = LabelFactory(policy_area="listing")
    vendor = VendorFactory(code="FLAG", name="Flag Co")
    ContractFactory(vendor=vendor, effective_month=date(2026, 1, 1), accuracy_target=0.9)
    inspector = UserFactory(role="qa_inspector")
    start = month_start(MARCH)
    inspected(vendor, inspector, label, start, ["ok"] * 2 + ["wrong"] * 8, moderator="MOD-BAD")
    inspected(vendor, inspector, label, start, ["ok", "wrong"], moderator="MOD-UNLUCKY")
    inspected(vendor, inspector, label, start, ["ok"] * 12, moderator="MOD-GOOD")
    db.session.commit()
    # The premises: MOD-BAD's interval is wholly below 90%; MOD-UNLUCKY's 50% is too,
    # but one of two says little, so its interval reaches the target.
    assert wilson_interval(2, 10)[1] < 0.9
    assert wilson_interval(1, 2)[1] >= 0.9
    user = login_as("qa_lead")
    doc = parse(client.get(f"/dashboards/vendors/FLAG?month={MARCH}"))
    rows = {
        cells[0].text().split()[0]: cells for cells in rows_of(tables_by_heading(doc)["Moderators"])
    }
    assert set(rows) == {"MOD-BAD", "MOD-UNLUCKY", "MOD-GOOD"}
    flagged = {key for key, cells in rows.items() if "flagged" in cells[0].text()}
    assert flagged == {"MOD-BAD"}
    # The optimistic end of the range, and why it flags: in words, not statistics.
    assert rows["MOD-BAD"][3].text() == f"{pct(wilson_interval(2, 10)[1])} · still below target"
    assert rows["MOD-UNLUCKY"][3].text() == pct(wilson_interval(1, 2)[1])
    page = " ".join(doc.text().split())
    assert "flagged means even the optimistic estimate is below the target (90.0%)" in page
    assert "Surely low" not in page and "upper bound" not in page
    body = api_metrics(api_client, user, "FLAG", MARCH)
    assert {r["key"] for r in body["breakdowns"]["moderator"] if r["flagged"]} == {"MOD-BAD"}


# Who sees which dashboard ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["vendor_viewer", "vendor_lead"])
def test_vendor_users_see_their_own_dashboard_only(client, login_as, world, role):
    login_as(role, vendor=world.vendor)
    response = client.get("/dashboards/")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/dashboards/vendors/ACME"
    response = client.get(f"/dashboards/?month={MARCH}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/dashboards/vendors/ACME"
    assert parse_qs(location.query) == {"month": [MARCH]}

    own = client.get(f"/dashboards/vendors/ACME?month={MARCH}")
    assert own.status_code == 200
    page = own.get_data(as_text=True)
    assert "Acme Moderation" in page
    assert "GLOBEX" not in page and "Globex" not in page
    assert "QA overview" not in page
    # The drill-downs do not name a vendor: the list is the vendor's own anyway.
    assert "vendor=" not in tile_figures(tiles(parse(own))["Overall accuracy"])["href"]

    for code in ("GLOBEX", "globex", "NOSUCH"):
        other = client.get(f"/dashboards/vendors/{code}?month={MARCH}")
        assert other.status_code == 404, code
        assert "Globex" not in other.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    ["code=GLOBEX", "_method=POST", "_scheme=javascript", "_external=1", "_anchor=x", "month=%00"],
)
def test_the_vendor_users_redirect_survives_any_query_string(client, login_as, world, query):
    login_as("vendor_viewer", vendor=world.vendor)
    response = client.get(f"/dashboards/?{query}")
    assert response.status_code == 302, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/dashboards/vendors/ACME"
    assert location.netloc in ("", "localhost")
    assert location.scheme in ("", "http")


def test_the_qa_overview_lists_every_vendor_with_its_figures(client, login_as, api_client, world):
    inactive = VendorFactory(code="ZZOLD", name="Old Vendor", active=False)
    idle = VendorFactory(code="IDLE", name="Idle Vendor")
    db.session.commit()
    user = login_as("qa_lead")
    response = client.get(f"/dashboards/?month={MARCH}")
    assert response.status_code == 200
    doc = parse(response)
    rows = {cells[0].find("a").text(): cells for cells in rows_of(doc.find("table"))}
    assert set(rows) == {"ACME", "GLOBEX", "IDLE"}  # an inactive vendor without data is left out
    assert inactive.code not in rows
    for code, cells in rows.items():
        body = api_metrics(api_client, user, code, MARCH)
        assert cells[1].text() == str(body["inspected"]), code
        assert cells[2].text() == share_text(body["overall_accuracy"]), code
        assert cells[4].text() == STATUS_TEXT[body["targets"]["overall_accuracy"]["status"]]
        assert cells[5].text() == share_text(body["critical_error_rate"]), code
        assert cells[7].text() == STATUS_TEXT[body["targets"]["critical_error_rate"]["status"]]
        link = cells[0].find("a").attrs["href"]
        assert link == f"/dashboards/vendors/{code}?month={MARCH}"
    assert rows["ACME"][1].text() == "27" and rows["GLOBEX"][1].text() == "3"
    assert rows["IDLE"][1].text() == "0" and idle.name in rows["IDLE"][0].text()
    assert rows["ACME"][3].text() == "75.0%" and rows["GLOBEX"][3].text() == "—"
    # The vendor's count links to its final contract inspections of the month.
    acme_ids = {c.inspection.id for c in world.contract}
    assert listed_ids(follow(client, rows["ACME"][1].find("a").attrs["href"])) == acme_ids
    incorrect = {c.inspection.id for c in world.contract if not correct(c)}
    accuracy_link = rows["ACME"][2].find("a").attrs["href"]
    assert listed_ids(follow(client, accuracy_link)) == incorrect
    # And a bar chart of every vendor, inline.
    assert doc.find("svg") is not None


@pytest.mark.parametrize("role", ["qa_inspector", "admin"])
def test_qa_people_and_admins_read_every_dashboard(client, login_as, world, role):
    login_as(role)
    assert client.get(f"/dashboards/?month={MARCH}").status_code == 200
    for code in ("ACME", "GLOBEX"):
        assert client.get(f"/dashboards/vendors/{code}?month={MARCH}").status_code == 200


def test_signed_out_people_are_sent_to_sign_in(client, world):
    for url in ("/dashboards/", "/dashboards/vendors/ACME"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]


# The month picker -------------------------------------------------------------------------------


def heading(response) -> str:
    return parse(response).find("h1").text()


def selected_month(response) -> str | None:
    select = parse(response).find("select")
    for option in select.find_all("option"):
        if "selected" in option.attrs:
            return option.attrs["value"]
    return None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        "2026-13",
        "2026-00",
        "2026-3",
        "March 2026",
        "2026-03-01",
        "%00",
        "2026-03'--",
    ],
)
def test_a_bad_month_falls_back_to_the_default_month(client, login_as, world, bad):
    login_as("qa_lead")
    default = last_month()
    for url in (f"/dashboards/vendors/ACME?month={bad}", f"/dashboards/?month={bad}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert default.strftime("%B %Y") in heading(response), url
        assert selected_month(response) == default.strftime("%Y-%m"), url
        notice = parse(response).find("div", "alert")
        if bad.replace("%00", ""):  # none (NULs are dropped) asks for the default
            assert notice.text().endswith(f"Showing {default:%B %Y}."), url
        else:
            assert notice is None


def test_the_month_picker_offers_recent_months_and_shows_the_chosen_one(client, login_as, world):
    login_as("qa_lead")
    response = client.get(f"/dashboards/vendors/ACME?month={MARCH}")
    assert "March 2026" in heading(response)
    assert selected_month(response) == MARCH
    select = parse(response).find("select")
    values = [o.attrs["value"] for o in select.find_all("option")]
    options = [o.text() for o in select.find_all("option")]
    current = months.current()
    # The month so far first, then the months before it, newest first.
    assert values[0] == current.strftime("%Y-%m")
    assert options[0] == f"{current:%B %Y} (so far)"
    assert values[1] == last_month().strftime("%Y-%m") and MARCH in values
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("page", ["/dashboards/vendors/ACME", "/dashboards/"])
def test_a_month_after_the_current_one_is_refused_with_a_notice(client, login_as, world, page):
    """`?month=2030-01` once showed an empty dashboard and filled the month menu with
    2028 to 2030."""
    login_as("qa_lead")
    current, default = months.current(), last_month()
    for future in (months.next_month(current), date(2030, 1, 1), date(2100, 12, 1)):
        response = client.get(f"{page}?month={future:%Y-%m}")
        assert response.status_code == 200
        doc = parse(response)
        notice = doc.find("div", "alert").text()
        assert notice == (
            f"Month {future:%Y-%m} is after the current month ({current:%Y-%m})."
            f" Showing {default:%B %Y}."
        )
        assert default.strftime("%B %Y") in heading(response)
        values = [o.attrs["value"] for o in doc.find("select").find_all("option")]
        assert max(values) == current.strftime("%Y-%m")
        assert selected_month(response) == default.strftime("%Y-%m")
    # The current month itself is a month like any other.
    response = client.get(f"{page}?month={current:%Y-%m}")
    assert parse(response).find("div", "alert") is None
    assert selected_month(response) == current.strftime("%Y-%m")


def test_an_old_month_keeps_the_recent_ones_on_offer(client, login_as, world):
    login_as("qa_lead")
    response = client.get("/dashboards/?month=2020-01")
    values = [o.attrs["value"] for o in parse(response).find("select").find_all("option")]
    assert values[0] == months.current().strftime("%Y-%m")
    assert values[-1] == "2020-01" and selected_month(response) == "2020-01"


@pytest.mark.parametrize("page", ["/dashboards/vendors/ACME", "/dashboards/"])
@pytest.mark.parametrize("month", ["0000-01", "0001-01", "0001-05", "9999-12"])
def test_extreme_months_never_fail_the_server(client, login_as, world, page, month):
    login_as("qa_lead")
    response = client.get(f"{page}?month={month}")
    assert response.status_code == 200, response.status_code


@pytest.mark.parametrize("code", ["%00", "A%00B", "<script>", "x" * 300])
def test_odd_vendor_codes_in_the_path_are_not_found(client, login_as, world, code):
    login_as("qa_lead")
    response = client.get(f"/dashboards/vendors/{code}?month={MARCH}")
    assert response.status_code == 404, response.status_code


# The charts as a page shows them --------------------------------------------------------------


DASHBOARDS = [f"/dashboards/?month={MARCH}", f"/dashboards/vendors/ACME?month={MARCH}"]


def bootstrap_classes() -> set[str]:
    from tests.unit.test_charts import bootstrap_classes as read

    return read()


def ancestors(node: Node):
    while node.parent is not None:
        node = node.parent
        yield node


def svg_classes(svg: Node) -> set[str]:
    return {name for node in svg.iter() for name in node.classes}


@pytest.mark.parametrize("url", DASHBOARDS)
def test_every_chart_has_a_visible_title_and_the_same_text_size(client, login_as, world, url):
    login_as("qa_lead")
    doc = parse(client.get(url))
    svgs = doc.find_all("svg")
    assert len(svgs) == (2 if url.startswith("/dashboards/?") else 6)  # wide and narrow each
    framework = bootstrap_classes()
    for svg in svgs:
        # A heading above the chart says what it shows, in words anyone can see.
        figure = next(a for a in ancestors(svg) if a.tag == "figure")
        caption = figure.find("figcaption")
        title = caption.find_all()[0]
        assert title.tag in ("h2", "h3") and title.text()
        # One text scale: drawn at its own size (1 unit = 1 px, never scaled up) with one
        # font size, so every chart's text reads the same.
        _, _, width, height = (float(v) for v in svg.attrs["viewbox"].split())
        assert float(svg.attrs["width"]) == width and float(svg.attrs["height"]) == height
        assert svg.attrs["font-size"] == "12"
        assert "qa-chart" in svg.classes
        # No class the page's CSS framework styles (Bootstrap's .row once stretched bars).
        assert svg_classes(svg) & framework == set()
    # Each chart comes wide (tablets, laptops) and narrow (phones); one shows at a time.
    shown_on = [next(a for a in ancestors(svg) if a.tag == "div").classes for svg in svgs]
    assert sum({"d-none", "d-md-block"} <= c for c in shown_on) == len(svgs) / 2
    assert sum(c == {"d-md-none"} for c in shown_on) == len(svgs) / 2


@pytest.mark.parametrize("url", DASHBOARDS)
def test_no_chart_image_holds_a_link(client, login_as, world, url):
    """axe: nested-interactive. The drill-downs lie over the drawing, outside the image,
    each with a name a screen reader reads."""
    login_as("qa_lead")
    doc = parse(client.get(url))
    links = 0
    for svg in doc.find_all("svg"):
        images = [n for n in svg.iter() if n.attrs.get("role") == "img"]
        assert len(images) == 1
        assert images[0].find_all("a") == []
        for link in svg.find_all("a"):
            assert link.attrs["aria-label"] and link.attrs["href"].startswith("/")
            links += 1
    assert links


def test_overview_bars_are_as_long_as_each_vendors_accuracy(client, login_as, world):
    """The rect widths were right but Bootstrap drew every bar full width: the widths must
    be proportional, and nothing in the page may restyle them."""
    login_as("qa_lead")
    response = client.get(f"/dashboards/?month={MARCH}")
    body, doc = response.get_data(as_text=True), parse(response)
    wide = next(s for s in doc.find_all("svg") if "narrow" not in s.attrs["aria-labelledby"])
    rows = {row.find("text").text(): row.find("rect") for row in wide.find_all("g", "qa-chart-row")}
    correct_share = sum(correct(c) for c in world.contract) / len(world.contract)
    widths = {code: float(rect.attrs["width"]) for code, rect in rows.items() if rect}
    assert set(widths) == {"ACME", "GLOBEX"}
    table = {
        cells[0].find("a").text(): cells[2].text().split()[0]
        for cells in rows_of(doc.find("table"))
    }
    shares = {code: float(table[code].rstrip("%")) / 100 for code in widths}
    assert shares["ACME"] == pytest.approx(correct_share, abs=0.0005)
    assert shares["ACME"] != shares["GLOBEX"]
    # The axis as a reader sees it: its labelled gridlines, from 0% on.
    grid = wide.find("g", "qa-chart-grid")
    ticks = [
        (float(label.text().rstrip("%")) / 100, float(line.attrs["x1"]))
        for label, line in zip(grid.find_all("text"), grid.find_all("line"), strict=True)
    ]
    (zero, x0), (top, x1) = ticks[0], ticks[-1]
    assert zero == 0.0
    for code, width in widths.items():
        assert width == pytest.approx(shares[code] * (x1 - x0) / top, abs=0.6), code
    assert 'class="row' not in body[body.index("<svg") : body.rindex("</svg>")]


# Drill-downs say what they list ----------------------------------------------------------------


def explanation(doc: Node) -> Node | None:
    found = [n for n in doc.find_all("section") if n.attrs.get("id") == "list-explanation"]
    return found[0] if found else None


def listed_total(doc: Node) -> int:
    """The list's own count (under the table: "1 to 16 of 16 inspections"), or 0."""
    for node in doc.find_all("span", "small"):
        match = re.fullmatch(r"\d+\W\d+ of (\d+) inspections", node.text())
        if match:
            return int(match[1])
    return 0


@pytest.mark.parametrize("role", ["qa_lead", "vendor_viewer"])
def test_a_drill_down_says_what_it_lists_with_the_lists_own_count(client, login_as, world, role):
    login_as(role, vendor=world.vendor if role == "vendor_viewer" else None)
    doc = parse(client.get(f"/dashboards/vendors/ACME?month={MARCH}"))
    shown = {name: tile_figures(t) for name, t in tiles(doc).items()}
    n = len(world.contract)
    judged = sum(1 for c in world.contract if c.decision == c.expected == "reject")
    expected = {
        "Overall accuracy": "overall accuracy: the 16 incorrect of 27",
        "Decision accuracy": "decision accuracy: the {} wrong decisions of 27",
        "Label accuracy": (
            f"label accuracy: the {{}} with wrong labels of {judged} rejects QA also rejected"
        ),
        "False negatives": "false negatives: the {} approved that QA would reject, of 27",
        "False positives": "false positives: the {} rejected that QA would approve, of 27",
        "Critical errors": "critical errors: the {} critical of 27",
        "Inspected": "27 inspections",
    }
    assert n == 27
    for tile, words in expected.items():
        href = shown[tile]["href"]
        page = parse(follow(client, href))
        banner = explanation(page)
        listed = listed_total(page)
        assert listed == len(listed_ids(follow(client, href)))
        headline = banner.find("p").text()
        assert headline == f"ACME · March 2026 · {words.format(listed)}", tile
        assert banner.find_all("p")[1].text() == (
            "Final inspections of contract samples, decisions made in March 2026 (UTC)."
        )
        back = banner.find("a", "btn")
        assert back.attrs["href"] == f"/dashboards/vendors/ACME?month={MARCH}"
        assert "GLOBEX" not in (page if role == "vendor_viewer" else banner).text()

    # A moderator's row, and a label pair: the banner names them and links back to them.
    mod_a = drill(doc, "Moderators", "MOD-A", 2)
    page = parse(follow(client, mod_a))
    total = sum(1 for c in world.contract if c.moderator == "MOD-A")
    wrong = sum(1 for c in world.contract if c.moderator == "MOD-A" and not correct(c))
    assert explanation(page).find("p").text() == (
        f"ACME · March 2026 · moderator MOD-A · overall accuracy: the {wrong} incorrect of {total}"
    )
    assert listed_total(page) == wrong
    back = explanation(page).find("a", "btn").attrs["href"]
    assert back == f"/dashboards/vendors/ACME?month={MARCH}#moderators"

    pair = rows_of(tables_by_heading(doc)["Label confusion"])[0]
    page = parse(follow(client, pair[3].find("a").attrs["href"]))
    applied, expected_code = label_code(pair[0]), label_code(pair[1])
    words = {"approve": "Approve"}
    assert explanation(page).find("p").text() == (
        f"ACME · March 2026 · label confusion, applied {words.get(applied, applied)} and QA"
        f" expected {words.get(expected_code, expected_code)}: the {pair[3].text()} of 27"
    )
    assert explanation(page).find("a", "btn").attrs["href"].endswith("#label-confusion")


def test_the_explanation_is_read_from_any_url(client, login_as, world):
    """Not from a free-text parameter: whatever the filters, the banner says them."""
    login_as("qa_lead")
    url = (
        f"/inspections/?vendor=ACME&month={MARCH}&status=final&purpose=contract"
        "&policy_area=seller&outcome=critical&site=Cebu"
    )
    page = parse(follow(client, url))
    scope = [c for c in world.contract if c.area == "seller" and c.site == "Cebu"]
    critical = sum(1 for c in scope if c.severity == "critical")
    assert scope and critical
    assert listed_total(page) == critical
    assert explanation(page).find("p").text() == (
        f"ACME · March 2026 · Seller · site Cebu · critical errors: the {critical} critical"
        f" of {len(scope)}"
    )
    back = explanation(page).find("a", "btn").attrs["href"]
    assert back == f"/dashboards/vendors/ACME?month={MARCH}#by-policy_area"
    # Without a vendor it leads back to the QA overview; without filters there is nothing
    # to explain.
    page = parse(follow(client, f"/inspections/?month={MARCH}&status=final"))
    assert explanation(page).find_all("p")[1].text() == (
        "Final inspections, decisions made in March 2026 (UTC)."
    )
    assert explanation(page).find("a", "btn").attrs["href"] == f"/dashboards/?month={MARCH}"
    assert explanation(parse(follow(client, "/inspections/"))) is None


def test_a_vendor_user_never_reads_another_vendors_name_in_the_explanation(client, login_as, world):
    login_as("vendor_viewer", vendor=world.vendor)
    for query in (f"month={MARCH}", f"month={MARCH}&moderator=MOD-A", "outcome=incorrect"):
        page = parse(follow(client, f"/inspections/?{query}"))
        text = explanation(page).text()
        assert text.startswith("ACME"), query
        assert "GLOBEX" not in page.text() and "Globex" not in page.text()
    assert client.get(f"/inspections/?vendor=GLOBEX&month={MARCH}").status_code == 404
