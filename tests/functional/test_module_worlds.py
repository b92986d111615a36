"""The test harness's module worlds (tests/builders/world.py): built once per module,
seen by each test that asks for one inside its own rolled-back SAVEPOINT (and by the
requests it makes); a world built on another is a layer that is dropped again without
building the other anew; a test without a world sees an empty database; the tests that
share a world run one after the other.

The build counts below follow from the order the harness runs this module's tests in:
the `world` tests, then the `layer_a` test, then the `layer_b` test, then the test
without a world."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Label, Vendor
from tests.builders.world import WORLDS, module_world
from tests.factories import LabelFactory, VendorFactory


@dataclass
class Notes:
    vendor: Vendor
    seen: list[str] = field(default_factory=list)


@module_world
def world():
    """One vendor, WORLD."""
    vendor = VendorFactory(code="WORLD")
    return {"vendor": vendor, "notes": Notes(vendor), "codes": ("WORLD",)}


@module_world(on=world)
def layer_a(world):
    """A label on top of `world`."""
    return {"label": LabelFactory(code="LAYER-A"), "vendor": world["vendor"]}


@module_world(on=world)
def layer_b(world):
    """Another label on top of `world`."""
    return {"label": LabelFactory(code="LAYER-B")}


KEYS = [fixture.world_spec.key for fixture in (world, layer_a, layer_b)]


def builds() -> list[int]:
    """How often `world`, `layer_a` and `layer_b` were built so far."""
    return [WORLDS.builds.get(key, 0) for key in KEYS]


def vendor_codes() -> set[str]:
    return set(db.session.scalars(sa.select(Vendor.code)))


def label_codes() -> set[str]:
    return set(db.session.scalars(sa.select(Label.code)))


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_sees_the_world_as_built_and_its_writes_are_rolled_back(world, attempt):
    # Had the first attempt's writes survived, the second would see them.
    assert vendor_codes() == {"WORLD"}
    assert world["notes"].seen == []
    assert world["vendor"] in db.session  # loaded in the test's own session
    assert world["notes"].vendor is world["vendor"]
    assert db.session.get(Vendor, world["vendor"].id).name != "Changed"
    VendorFactory(code=f"EXTRA{attempt}")
    world["vendor"].name = "Changed"
    db.session.commit()
    world["notes"].seen.append("changed")  # a copy: the next test gets a fresh one
    assert vendor_codes() == {"WORLD", f"EXTRA{attempt}"}
    assert builds() == [1, 0, 0]


def test_a_layer_holds_its_world_too(layer_a, world):
    assert layer_a["vendor"] is world["vendor"]
    assert label_codes() == {"LAYER-A"}
    assert vendor_codes() == {"WORLD"}
    assert builds() == [1, 1, 0]


def test_another_layer_replaces_it_without_building_the_world_again(layer_b):
    assert label_codes() == {"LAYER-B"}
    assert vendor_codes() == {"WORLD"}
    assert builds() == [1, 1, 1]


def test_a_test_without_a_world_sees_an_empty_database():
    assert vendor_codes() == set()
    assert label_codes() == set()


def test_the_requests_of_a_test_see_the_world_and_it_runs_with_the_worlds_tests(
    world, client, login_as
):
    # Last in the file, but run with the other `world` tests: built once.
    assert builds() == [1, 0, 0]
    login_as("admin")
    page = client.get("/vendors/").get_data(as_text=True)
    assert "WORLD" in page
