"""Inspections keep what the metrics count (month, purpose, decision and label
matches) behind an index per vendor-month; one scorecard template per policy area.

Revision ID: 0003_inspection_metrics
Revises: 0002_jobs
Create Date: 2026-12-01 18:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0003_inspection_metrics"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), nullable=False, server_default="contract")
        )
        batch_op.add_column(sa.Column("month", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("decision_match", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("label_match", sa.Boolean(), nullable=True))
    # Inspections made before this revision take their decision's month.
    op.execute(
        "UPDATE inspections SET month = (SELECT CAST(strftime('%Y-%m-01', d.decided_at) AS DATE)"
        " FROM decisions d WHERE d.id = inspections.decision_id)"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE inspections SET month = CAST(date_trunc('month', d.decided_at AT TIME ZONE"
        " 'UTC') AS DATE) FROM decisions d WHERE d.id = inspections.decision_id"
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.alter_column("purpose", server_default=None)
        batch_op.alter_column("month", existing_type=sa.Date(), nullable=False)
        batch_op.create_check_constraint("purpose_valid", "purpose IN ('contract', 'targeted')")
        batch_op.create_index(
            "ix_inspections_vendor_month",
            ["vendor_id", "month", "status", "purpose"],
            unique=False,
        )
    with op.batch_alter_table("scorecard_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_scorecard_templates_policy_area")
        batch_op.create_index("ix_scorecard_templates_policy_area", ["policy_area"], unique=True)


def downgrade():
    with op.batch_alter_table("scorecard_templates", schema=None) as batch_op:
        batch_op.drop_index("ix_scorecard_templates_policy_area")
        batch_op.create_index("ix_scorecard_templates_policy_area", ["policy_area"], unique=False)
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index("ix_inspections_vendor_month")
        batch_op.drop_constraint(op.f("ck_inspections_purpose_valid"), type_="check")
        batch_op.drop_column("label_match")
        batch_op.drop_column("decision_match")
        batch_op.drop_column("month")
        batch_op.drop_column("purpose")
