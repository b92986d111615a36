"""The hand-reviewed migrations build exactly the models' schema, and undo it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.builders.databases import own_database


@pytest.fixture
def fresh_database_url(tmp_path):
    with own_database(tmp_path, "mig") as url:
        yield url


def _diff(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_matches_models_and_downgrade_removes_everything(fresh_database_url):
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": fresh_database_url})
    with app.app_context():
        upgrade()
        assert _diff(db.engine) == []
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        with db.engine.connect() as conn:
            head = conn.execute(sa.text("SELECT seq, last_hash FROM audit_chain_head")).all()
        assert head == [(0, "0" * 64)]

        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}

        upgrade()
        assert _diff(db.engine) == []
        db.session.remove()
        db.engine.dispose()


def test_check_constraints_protect_enumerated_fields(app):
    from tests.factories import UserFactory

    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        UserFactory(role="superuser")
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        UserFactory(role="vendor_lead", vendor=None)
