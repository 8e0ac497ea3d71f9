"""alerts: sightings, travel times, alerts, task states, change log, hotlists, hazards, audit log

Revision ID: alerts_0002
Revises: alerts_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from qzx_common.audit import create_audit_table

revision = "alerts_0002"
down_revision = "alerts_0001"
branch_labels = None
depends_on = None

S = "alerts"


def _ts(name: str, **kw: object) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "sightings",
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("plate", sa.String(16)),
        sa.Column("violation", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("admin_code", sa.String(6), nullable=False),
        _ts("captured_at", nullable=False),
        sa.Column("group_key", sa.String(96)),
        sa.Column("vehicle_class", sa.String(16)),
        sa.Column("measurements", JSONB),
        sa.PrimaryKeyConstraint("event_id", name="pk_sightings"),
        schema=S,
    )
    op.create_index("ix_sightings_plate_captured_at", "sightings", ["plate", "captured_at"], schema=S)
    op.create_index("ix_sightings_captured_at", "sightings", ["captured_at"], schema=S)
    op.create_index(
        "ix_sightings_group_key_captured_at",
        "sightings",
        ["group_key", "captured_at"],
        schema=S,
        postgresql_where=sa.text("group_key IS NOT NULL"),
    )

    op.create_table(
        "device_travel",
        sa.Column("device_a", sa.String(64), nullable=False),
        sa.Column("device_b", sa.String(64), nullable=False),
        sa.Column("min_s", sa.Float, nullable=False),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("device_a", "device_b", name="pk_device_travel"),
        schema=S,
    )

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.String(160), nullable=False),
        sa.Column("status", sa.String(16), server_default="new", nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("factors", JSONB, nullable=False),
        sa.Column("violations", ARRAY(sa.Text), nullable=False),
        sa.Column("plate", sa.String(16)),
        sa.Column("plates", ARRAY(sa.Text), nullable=False),
        sa.Column("admin_code", sa.String(6), nullable=False),
        sa.Column("city_code", sa.String(4), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("road", sa.String(64)),
        sa.Column("km", sa.Float),
        sa.Column("device_id", sa.String(64)),
        _ts("first_seen", nullable=False),
        _ts("last_seen", nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("event_ids", ARRAY(sa.Text), nullable=False),
        sa.Column("rules_version", sa.String(32), nullable=False),
        sa.Column("sign_deadline_s", sa.Integer),
        sa.Column("feedback_deadline_s", sa.Integer),
        sa.Column("task_id", sa.String(64)),
        sa.Column("outcome", sa.String(16)),
        _ts("dispatched_at"),
        _ts("signed_at"),
        _ts("resolved_at"),
        _ts("escalated_at"),
        _ts("dismissed_at"),
        sa.Column("dismiss_reason", sa.Text),
        sa.Column("version", sa.Integer, server_default="1", nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        schema=S,
    )
    for name, cols in (
        ("ix_alerts_dedup_key_last_seen", ["dedup_key", "last_seen"]),
        ("ix_alerts_last_seen_id", ["last_seen", "id"]),
        ("ix_alerts_status_last_seen_id", ["status", "last_seen", "id"]),
        ("ix_alerts_priority_last_seen_id", ["priority", "last_seen", "id"]),
        ("ix_alerts_city_code_last_seen_id", ["city_code", "last_seen", "id"]),
        ("ix_alerts_admin_code_last_seen_id", ["admin_code", "last_seen", "id"]),
        ("ix_alerts_first_seen", ["first_seen"]),
    ):
        op.create_index(name, "alerts", cols, schema=S)
    op.create_index("ix_alerts_violations", "alerts", ["violations"], schema=S, postgresql_using="gin")

    op.create_table(
        "alert_tasks",
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("escalated", sa.Boolean, server_default="false", nullable=False),
        sa.Column("outcome", sa.String(16)),
        _ts("assigned_at"),
        _ts("signed_at"),
        _ts("resolved_at"),
        _ts("escalated_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("task_id", name="pk_alert_tasks"),
        schema=S,
    )
    op.create_index("ix_alert_tasks_alert_id", "alert_tasks", ["alert_id"], schema=S)

    op.create_table(
        "alert_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("admin_code", sa.String(6), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        _now("at"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_changes"),
        schema=S,
    )
    op.create_index("ix_alert_changes_at", "alert_changes", ["at"], schema=S)

    op.create_table(
        "hotlists",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("covert", sa.Boolean, server_default="false", nullable=False),
        sa.Column("admin_code", sa.String(6), nullable=False),
        _ts("expires_at"),
        sa.Column("created_by", sa.String(128), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_hotlists"),
        sa.UniqueConstraint("source", "plate", name="uq_hotlists_source_plate"),
        schema=S,
    )
    op.create_index("ix_hotlists_plate", "hotlists", ["plate"], schema=S)

    op.create_table(
        "hazards",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("radius_m", sa.Float, nullable=False),
        sa.Column("risk_level", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("admin_code", sa.String(6), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_by", sa.String(128), nullable=False),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_hazards"),
        schema=S,
    )
    op.create_index("ix_hazards_admin_code", "hazards", ["admin_code"], schema=S)

    create_audit_table(S)


def downgrade() -> None:
    for table in (
        "audit_log",
        "hazards",
        "hotlists",
        "alert_changes",
        "alert_tasks",
        "alerts",
        "device_travel",
        "sightings",
    ):
        op.drop_table(table, schema=S)
    op.execute(f'DROP FUNCTION IF EXISTS "{S}".audit_log_append_only()')
