"""The authorization matrix: who may reach every route, in one readable file.

`tests/authorization_matrix.md` has one row per route (method and URL rule) and one
column per role, plus anonymous. Each cell is the answer that role must get, derived
from the route's declared policy (app/security/access.py) and from what the route's URL
names: an object of a vendor (whose other vendors' users get 404), an object only its
creator sees (a background job), or nothing vendor-owned.

    python -m tests.authorization_matrix --write   # after adding or changing a route
    python -m tests.authorization_matrix --check   # exit status 1 when the file is stale

tests/functional/test_access_matrix.py sends every request the file describes and
compares the answers with it; a route missing from the file fails that test, so a new
route is added here deliberately, and its row is read in review.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from app.security.access import Policy, policy_for
from app.security.roles import ROLE_ADMIN, ROLE_QA_LEAD, ROLE_SCOPES, ROLES, VENDOR_ROLES

MATRIX_FILE = Path(__file__).with_name("authorization_matrix.md")
ANONYMOUS = "anonymous"
COLUMNS = (ANONYMOUS, *ROLES)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# What a URL parameter names: "vendor" (an object of one vendor), "creator" (an object
# only its creator and CREATOR_ROLES see) or "shared" (seen by whoever reaches the page).
PARAMETER_OBJECTS = {
    "code": "vendor",
    "contract_id": "vendor",
    "user_id": "vendor",
    "token_id": "vendor",
    "external_id": "vendor",
    "decision_id": "vendor",
    "sample_id": "vendor",
    "plan_id": "vendor",
    "item_id": "vendor",
    "inspection_id": "vendor",
    "job_id": "creator",
    "label_id": "shared",
    "seq": "shared",
    "template_id": "shared",
    "version_id": "shared",
    "filename": "shared",
}
CREATOR_ROLES = frozenset({ROLE_ADMIN, ROLE_QA_LEAD})

# Cells. An allowed request passes the access rules: the page or answer itself (2xx), a
# redirect elsewhere than the sign-in page, or a refusal of its input (400, 409, 422).
ALLOW = "allow"
OWN_ONLY = "allow own · 404 other"
NOT_THEIRS = "404 not theirs"
FORBIDDEN = "403"
NO_TOKEN = "401"
SIGN_IN = "302 sign-in"
# Allowed writes are marked so: the live test does not send them (they would change the
# data every role's requests read); each area's own tests do.
NOT_SENT = "*"

LEGEND = f"""\
| cell | meaning |
|---|---|
| `{ALLOW}` | passes the access rules: the page or answer (2xx), a redirect elsewhere than \
the sign-in page, or a refusal of its input (400, 409, 422) |
| `{ALLOW}{NOT_SENT}` | as `{ALLOW}`, for a write; the matrix test does not send it \
(it would change the data the other requests read), the area's own tests do |
| `{OWN_ONLY}` | allowed for an object of the user's own vendor; another vendor's \
object answers 404, as if it did not exist |
| `{NOT_THEIRS}` | only the object's creator (and admins, QA leads) may see it; the \
matrix's users created none, so 404 |
| `{FORBIDDEN}` | refused: the role (or the token's scopes) may not use this route |
| `{NO_TOKEN}` | refused: the API needs a bearer token |
| `{SIGN_IN}` | redirected to the sign-in page (integrations cannot sign in to pages) |
"""


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    endpoint: str
    policy: str  # "public", "page" or "api <scope>"
    names: str  # "vendor", "creator" or "shared"
    cells: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.rule


def routes(app: Flask):
    """Every (rule, method) of the app, in URL order."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def names(rule) -> str:
    """What the rule's URL names: "vendor", "creator" or "shared"."""
    unknown = sorted(name for name in rule.arguments if name not in PARAMETER_OBJECTS)
    if unknown:
        raise KeyError(f"{rule.rule}: say in PARAMETER_OBJECTS what {unknown} names")
    kinds = {PARAMETER_OBJECTS[name] for name in rule.arguments}
    for kind in ("vendor", "creator"):
        if kind in kinds:
            return kind
    return "shared"


def cell(policy: Policy, role: str, kind: str, method: str) -> str:
    """The answer `role` (or anonymous) gets on a route of `policy` naming `kind`."""
    if policy.kind == "public":
        outcome = ALLOW
    elif role == ANONYMOUS:
        outcome = NO_TOKEN if policy.kind == "api" else SIGN_IN
    elif policy.kind == "page" and role == "integration":
        outcome = SIGN_IN  # integrations cannot sign in to pages
    elif role not in policy.roles or (
        policy.kind == "api" and policy.scope not in ROLE_SCOPES[role]
    ):
        outcome = FORBIDDEN
    elif kind == "vendor" and role in VENDOR_ROLES:
        outcome = OWN_ONLY
    elif kind == "creator" and role not in CREATOR_ROLES:
        outcome = NOT_THEIRS
    else:
        outcome = ALLOW
    if method != "GET" and outcome == ALLOW:
        return ALLOW + NOT_SENT
    return outcome


def rows(app: Flask) -> list[Row]:
    """The matrix of `app`, derived from its route table and declared policies."""
    found = []
    for rule, method in routes(app):
        policy = policy_for(app, rule.endpoint)
        if policy is None:
            raise LookupError(f"{rule.endpoint} declares no access policy")
        kind = names(rule)
        found.append(
            Row(
                method=method,
                rule=rule.rule,
                endpoint=rule.endpoint,
                policy=f"api {policy.scope}" if policy.kind == "api" else policy.kind,
                names=kind,
                cells={column: cell(policy, column, kind, method) for column in COLUMNS},
            )
        )
    return found


def _area(row: Row) -> str:
    area = row.endpoint.partition(".")[0] if "." in row.endpoint else "static files"
    return "static files" if row.endpoint.endswith("static") else area


def render(matrix: list[Row]) -> str:
    """The Markdown file: a legend, then one table per area."""
    lines = [
        "# Authorization matrix",
        "",
        "Who may reach every route of the portal: one row per route (method and URL",
        "rule), one column per role. Generated from the route table and the declared",
        "policies by `python -m tests.authorization_matrix --write`; do not edit by hand.",
        "`tests/functional/test_access_matrix.py` sends each request (as each role, with",
        "objects of the user's own vendor, of another vendor, and anonymously) and fails",
        "on any answer that differs, counting the unexpected allows; a route missing",
        "from this file fails it too.",
        "",
        "*names* says what the URL names: `vendor` (an object of one vendor),",
        "`creator` (an object only its creator sees), or `shared` (nothing vendor-owned).",
        "*policy* is the route's kind: `public`, `page` (signed in) or `api` with the",
        "scope its token needs.",
        "",
        LEGEND,
    ]
    header = "| method | route | policy | names | " + " | ".join(COLUMNS) + " |"
    rule = "|---" * (4 + len(COLUMNS)) + "|"
    area = None
    for row in sorted(matrix, key=lambda r: (_area(r), r.rule, METHODS.index(r.method))):
        if _area(row) != area:
            area = _area(row)
            lines += ["", f"## {area}", "", header, rule]
        cells = " | ".join(row.cells[column] for column in COLUMNS)
        lines.append(f"| {row.method} | `{row.rule}` | {row.policy} | {row.names} | {cells} |")
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """The expected cells of each (method, rule) in a matrix file."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    for line in text.splitlines():
        parts = [part.strip() for part in line.strip().strip("|").split("|")]
        if len(parts) != 4 + len(COLUMNS) or parts[0] not in METHODS:
            continue
        method, rule = parts[0], parts[1].strip("`")
        found[(method, rule)] = dict(zip(COLUMNS, parts[4:], strict=True))
    return found


def read() -> dict[tuple[str, str], dict[str, str]]:
    return parse(MATRIX_FILE.read_text(encoding="utf-8"))


def _app() -> Flask:
    from app import create_app

    return create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {MATRIX_FILE.name}")
    group.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render(rows(_app()))
    if args.write:
        MATRIX_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {MATRIX_FILE.name}")
        return 0
    if args.check:
        current = MATRIX_FILE.read_text(encoding="utf-8") if MATRIX_FILE.exists() else ""
        if current != text:
            print(f"{MATRIX_FILE.name} is stale: run python -m tests.authorization_matrix --write")
            return 1
        print(f"{MATRIX_FILE.name} is up to date")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
