"""Jobs record who runs them and when they last said they were alive, so that a job
whose worker died (a server killed during an import) is failed instead of running for
ever; an index on the state finds the unfinished ones.

Revision ID: 0004_job_heartbeat
Revises: 0003_inspection_metrics
Create Date: 2026-12-03 12:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0004_job_heartbeat"
down_revision = "0003_inspection_metrics"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_jobs_state", ["state"], unique=False)


def downgrade():
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_state")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("runner")
