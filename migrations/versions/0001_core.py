"""Core data model: vendors and contracts, labels, users and API tokens, decisions,
sampling, scorecards, inspections and the audit log.

Reviewed by hand: every enumerated column has a CHECK constraint, constraint names
follow the naming convention (so later batch-mode ALTERs work on SQLite), and the
audit chain's head row is created here.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.execute(
        "INSERT INTO audit_chain_head (id, seq, last_hash) VALUES (1, 0, '" + "0" * 64 + "')"
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("policy_area", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("typical_severity", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "policy_area IN ('seller', 'listing', 'content', 'ipr')",
            name=op.f("ck_labels_policy_area_valid"),
        ),
        sa.CheckConstraint(
            "typical_severity IN ('none', 'minor', 'major', 'critical')",
            name=op.f("ck_labels_typical_severity_valid"),
        ),
        sa.CheckConstraint(
            "(active AND retired_at IS NULL) OR (NOT active AND retired_at IS NOT NULL)",
            name=op.f("ck_labels_retired_consistent"),
        ),
        sa.CheckConstraint("length(code) >= 2", name=op.f("ck_labels_code_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("code", name=op.f("uq_labels_code")),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_labels_policy_area_active", ["policy_area", "active"], unique=False
        )

    op.create_table(
        "vendors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("markets", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("holiday_country", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(code) BETWEEN 2 AND 20", name=op.f("ck_vendors_code_length")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
        sa.UniqueConstraint("code", name=op.f("uq_vendors_code")),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("moderator_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("market", sa.String(length=32), nullable=False),
        sa.Column("policy_area", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("item_url", sa.String(length=2048), nullable=True),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve', 'reject')", name=op.f("ck_decisions_decision_valid")
        ),
        sa.CheckConstraint(
            "policy_area IN ('seller', 'listing', 'content', 'ipr')",
            name=op.f("ck_decisions_policy_area_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_decisions_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
        sa.UniqueConstraint("external_id", name=op.f("uq_decisions_external_id")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_decisions_vendor_area_decided",
            ["vendor_id", "policy_area", "decided_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_decisions_vendor_decided", ["vendor_id", "decided_at"], unique=False
        )
        batch_op.create_index(
            "ix_decisions_vendor_moderator", ["vendor_id", "moderator_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("session_token", sa.String(length=64), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role IN ('vendor_lead', 'vendor_viewer') AND vendor_id IS NOT NULL) OR (role NOT IN ('vendor_lead', 'vendor_viewer') AND vendor_id IS NULL)",
            name=op.f("ck_users_vendor_matches_role"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'qa_lead', 'qa_inspector', 'vendor_lead', 'vendor_viewer', 'integration')",
            name=op.f("ck_users_role_valid"),
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_users_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("session_token", name=op.f("uq_users_session_token")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_vendor_role", ["vendor_id", "role"], unique=False)

    op.create_table(
        "vendor_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("effective_month", sa.Date(), nullable=False),
        sa.Column("accuracy_target", sa.Float(), nullable=False),
        sa.Column("critical_error_cap", sa.Float(), nullable=False),
        sa.Column("dispute_window_days", sa.Integer(), nullable=False),
        sa.Column("penalty_tiers", sa.JSON(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("holiday_country", sa.String(length=8), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "accuracy_target >= 0 AND accuracy_target <= 1",
            name=op.f("ck_vendor_contracts_accuracy_share"),
        ),
        sa.CheckConstraint(
            "critical_error_cap >= 0 AND critical_error_cap <= 1",
            name=op.f("ck_vendor_contracts_critical_cap_share"),
        ),
        sa.CheckConstraint(
            "dispute_window_days >= 1 AND dispute_window_days <= 60",
            name=op.f("ck_vendor_contracts_dispute_window"),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_vendor_contracts_vendor_id_vendors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendor_contracts")),
        sa.UniqueConstraint(
            "vendor_id",
            "effective_month",
            name=op.f("uq_vendor_contracts_vendor_id_effective_month"),
        ),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_api_tokens_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("rows_digest", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_events_seq")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_events_actor", ["actor_id"], unique=False)
        batch_op.create_index("ix_audit_events_object", ["object_type", "object_id"], unique=False)
        batch_op.create_index("ix_audit_events_occurred", ["occurred_at"], unique=False)

    op.create_table(
        "decision_labels",
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_decision_labels_position_nonnegative")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_labels_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_decision_labels_label_id_labels"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("decision_id", "position", name=op.f("pk_decision_labels")),
        sa.UniqueConstraint(
            "decision_id", "label_id", name=op.f("uq_decision_labels_decision_id_label_id")
        ),
    )
    with op.batch_alter_table("decision_labels", schema=None) as batch_op:
        batch_op.create_index("ix_decision_labels_label", ["label_id"], unique=False)

    op.create_table(
        "sampling_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("risk_weights", sa.JSON(), nullable=False),
        sa.Column("inspector_ids", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('contract', 'targeted')", name=op.f("ck_sampling_plans_purpose_valid")
        ),
        sa.CheckConstraint(
            "confidence > 0 AND confidence < 1", name=op.f("ck_sampling_plans_confidence_share")
        ),
        sa.CheckConstraint(
            "margin IS NULL OR (margin > 0 AND margin < 1)",
            name=op.f("ck_sampling_plans_margin_share"),
        ),
        sa.CheckConstraint(
            "size IS NOT NULL OR margin IS NOT NULL", name=op.f("ck_sampling_plans_size_or_margin")
        ),
        sa.CheckConstraint(
            "size IS NULL OR size > 0", name=op.f("ck_sampling_plans_size_positive")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sampling_plans_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_sampling_plans_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sampling_plans")),
    )
    op.create_table(
        "scorecard_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("policy_area", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "policy_area IN ('seller', 'listing', 'content', 'ipr')",
            name=op.f("ck_scorecard_templates_policy_area_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_scorecard_templates_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_scorecard_templates_name")),
    )
    with op.batch_alter_table("scorecard_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scorecard_templates_policy_area"), ["policy_area"], unique=False
        )

    op.create_table(
        "audit_row_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.id"],
            name=op.f("fk_audit_row_changes_event_id_audit_events"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_row_changes")),
        sa.UniqueConstraint(
            "event_id", "position", name=op.f("uq_audit_row_changes_event_id_position")
        ),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("strata", sa.JSON(), nullable=False),
        sa.Column("requested_size", sa.Integer(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("risk_weights", sa.JSON(), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("method_version", sa.String(length=16), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("population_digests", sa.JSON(), nullable=False),
        sa.Column("per_stratum", sa.JSON(), nullable=False),
        sa.Column("exclusions", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('contract', 'targeted')", name=op.f("ck_samples_purpose_valid")
        ),
        sa.CheckConstraint(
            "state IN ('open', 'closed', 'cancelled')", name=op.f("ck_samples_state_valid")
        ),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_samples_period_ordered")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_samples_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["sampling_plans.id"],
            name=op.f("fk_samples_plan_id_sampling_plans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_samples_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
    )
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_samples_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index("ix_samples_vendor_state", ["vendor_id", "state"], unique=False)

    op.create_table(
        "scorecard_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('draft', 'published', 'superseded')",
            name=op.f("ck_scorecard_versions_state_valid"),
        ),
        sa.CheckConstraint("number >= 1", name=op.f("ck_scorecard_versions_number_positive")),
        sa.ForeignKeyConstraint(
            ["published_by_id"],
            ["users.id"],
            name=op.f("fk_scorecard_versions_published_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["scorecard_templates.id"],
            name=op.f("fk_scorecard_versions_template_id_scorecard_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_versions")),
        sa.UniqueConstraint(
            "template_id", "number", name=op.f("uq_scorecard_versions_template_id_number")
        ),
    )
    op.create_table(
        "sample_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(length=255), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("replacement_for_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'skipped') = (skip_reason IS NOT NULL)",
            name=op.f("ck_sample_items_skip_reason_iff_skipped"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'inspected', 'skipped')",
            name=op.f("ck_sample_items_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_sample_items_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_sample_items_decision_id_decisions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["replacement_for_id"],
            ["sample_items.id"],
            name=op.f("fk_sample_items_replacement_for_id_sample_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name=op.f("fk_sample_items_sample_id_samples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_items")),
        sa.UniqueConstraint(
            "sample_id", "decision_id", name=op.f("uq_sample_items_sample_id_decision_id")
        ),
    )
    with op.batch_alter_table("sample_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sample_items_assignee_status", ["assignee_id", "status"], unique=False
        )
        batch_op.create_index("ix_sample_items_decision", ["decision_id"], unique=False)

    op.create_table(
        "scorecard_sections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["scorecard_versions.id"],
            name=op.f("fk_scorecard_sections_version_id_scorecard_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_sections")),
        sa.UniqueConstraint(
            "version_id", "position", name=op.f("uq_scorecard_sections_version_id_position")
        ),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=False),
        sa.Column("sample_item_id", sa.Integer(), nullable=True),
        sa.Column("scorecard_version_id", sa.Integer(), nullable=True),
        sa.Column("inspector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("expected_decision", sa.String(length=8), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("rubric_score", sa.Float(), nullable=True),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalised_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'final') = (finalised_at IS NOT NULL)",
            name=op.f("ck_inspections_finalised_iff_final"),
        ),
        sa.CheckConstraint(
            "expected_decision IN ('approve', 'reject')",
            name=op.f("ck_inspections_expected_decision_valid"),
        ),
        sa.CheckConstraint(
            "severity IN ('none', 'minor', 'major', 'critical')",
            name=op.f("ck_inspections_severity_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'final')", name=op.f("ck_inspections_status_valid")
        ),
        sa.CheckConstraint(
            "rubric_score IS NULL OR (rubric_score >= 0 AND rubric_score <= 100)",
            name=op.f("ck_inspections_rubric_score_range"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_inspections_version_positive")),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_inspections_decision_id_decisions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"],
            ["users.id"],
            name=op.f("fk_inspections_inspector_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["sample_item_id"],
            ["sample_items.id"],
            name=op.f("fk_inspections_sample_item_id_sample_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["scorecard_version_id"],
            ["scorecard_versions.id"],
            name=op.f("fk_inspections_scorecard_version_id_scorecard_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"],
            ["vendors.id"],
            name=op.f("fk_inspections_vendor_id_vendors"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_inspections_decision_id")),
        sa.UniqueConstraint("sample_item_id", name=op.f("uq_inspections_sample_item_id")),
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inspections_inspector_status", ["inspector_id", "status"], unique=False
        )
        batch_op.create_index("ix_inspections_vendor_status", ["vendor_id", "status"], unique=False)

    op.create_table(
        "scorecard_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("section_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("guidance", sa.Text(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("allow_na", sa.Boolean(), nullable=False),
        sa.CheckConstraint("weight > 0", name=op.f("ck_scorecard_questions_weight_positive")),
        sa.ForeignKeyConstraint(
            ["section_id"],
            ["scorecard_sections.id"],
            name=op.f("fk_scorecard_questions_section_id_scorecard_sections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["scorecard_versions.id"],
            name=op.f("fk_scorecard_questions_version_id_scorecard_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_questions")),
        sa.UniqueConstraint(
            "section_id", "position", name=op.f("uq_scorecard_questions_section_id_position")
        ),
        sa.UniqueConstraint(
            "version_id", "key", name=op.f("uq_scorecard_questions_version_id_key")
        ),
    )
    op.create_table(
        "inspection_answers",
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=4), nullable=False),
        sa.CheckConstraint(
            "answer IN ('yes', 'no', 'na')", name=op.f("ck_inspection_answers_answer_valid")
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_answers_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["scorecard_questions.id"],
            name=op.f("fk_inspection_answers_question_id_scorecard_questions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("inspection_id", "question_id", name=op.f("pk_inspection_answers")),
    )
    op.create_table(
        "inspection_labels",
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_labels_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_inspection_labels_label_id_labels"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("inspection_id", "position", name=op.f("pk_inspection_labels")),
        sa.UniqueConstraint(
            "inspection_id", "label_id", name=op.f("uq_inspection_labels_inspection_id_label_id")
        ),
    )
    op.create_table(
        "inspection_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('create', 'edit', 'finalise', 'correction', 'dispute')",
            name=op.f("ck_inspection_versions_source_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["users.id"],
            name=op.f("fk_inspection_versions_changed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_versions_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_versions")),
        sa.UniqueConstraint(
            "inspection_id", "version", name=op.f("uq_inspection_versions_inspection_id_version")
        ),
    )


def downgrade():
    op.drop_table("inspection_versions")
    op.drop_table("inspection_labels")
    op.drop_table("inspection_answers")
    op.drop_table("scorecard_questions")
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index("ix_inspections_vendor_status")
        batch_op.drop_index("ix_inspections_inspector_status")

    op.drop_table("inspections")
    op.drop_table("scorecard_sections")
    with op.batch_alter_table("sample_items", schema=None) as batch_op:
        batch_op.drop_index("ix_sample_items_decision")
        batch_op.drop_index("ix_sample_items_assignee_status")

    op.drop_table("sample_items")
    op.drop_table("scorecard_versions")
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_vendor_state")
        batch_op.drop_index(batch_op.f("ix_samples_plan_id"))

    op.drop_table("samples")
    op.drop_table("audit_row_changes")
    with op.batch_alter_table("scorecard_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scorecard_templates_policy_area"))

    op.drop_table("scorecard_templates")
    op.drop_table("sampling_plans")
    with op.batch_alter_table("decision_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_decision_labels_label")

    op.drop_table("decision_labels")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_occurred")
        batch_op.drop_index("ix_audit_events_object")
        batch_op.drop_index("ix_audit_events_actor")
        batch_op.drop_index("ix_audit_events_action")

    op.drop_table("audit_events")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("vendor_contracts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_vendor_role")

    op.drop_table("users")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_vendor_moderator")
        batch_op.drop_index("ix_decisions_vendor_decided")
        batch_op.drop_index("ix_decisions_vendor_area_decided")

    op.drop_table("decisions")
    op.drop_table("vendors")
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index("ix_labels_policy_area_active")

    op.drop_table("labels")
    op.drop_table("audit_chain_head")
