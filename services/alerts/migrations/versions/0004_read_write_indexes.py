"""alerts: indexes that serve every list filter with few writes per alert

The list API filters by jurisdiction, status, priority, violation, kind and plate, newest first.
Each alert now enters five B-trees (the primary key, the dedup key, and one per leading filter:
recent, status, city) plus the partial index of each of its violations, instead of eight B-trees
and a GIN index. The leading index of a query carries the other filters' columns as trailing keys,
so they are checked on index entries, not on table rows. A violation filter uses that violation's
partial index (the planner's estimates for array containment made it scan everything for a rare
violation); the rare kinds (plate fraud, racing groups) have theirs; a plate is found through its
exact dedup keys. Time-range scans (reports, retention) use BRIN, which costs next to nothing on
insert because rows arrive in time order.

Revision ID: alerts_0004
Revises: alerts_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "alerts_0004"
down_revision = "alerts_0003"
branch_labels = None
depends_on = None

S = "alerts"
# Frozen here (a migration must not follow later code): qzx_common.contracts.events.Violation.
VIOLATIONS = (
    "drunk_driving",
    "overload",
    "street_racing",
    "noise_modified",
    "speeding",
    "red_light",
    "wrong_way",
    "fake_plate",
    "no_plate",
    "ebike_red_light",
    "ebike_wrong_way",
    "ebike_overload",
)
RARE_KINDS = ("plate_fraud", "racing_group")
FILTERS = ["status", "priority", "city_code", "admin_code"]
RECENT = ["last_seen", "id", *FILTERS]

_OLD = {
    "ix_alerts_last_seen_id": ["last_seen", "id"],
    "ix_alerts_status_last_seen_id": ["status", "last_seen", "id"],
    "ix_alerts_priority_last_seen_id": ["priority", "last_seen", "id"],
    "ix_alerts_city_code_last_seen_id": ["city_code", "last_seen", "id"],
    "ix_alerts_admin_code_last_seen_id": ["admin_code", "last_seen", "id"],
}


def upgrade() -> None:
    for name in _OLD:
        op.drop_index(name, "alerts", schema=S)
    op.drop_index("ix_alerts_violations", "alerts", schema=S)
    op.drop_index("ix_alerts_first_seen", "alerts", schema=S)
    op.drop_index("ix_sightings_captured_at", "sightings", schema=S)
    op.drop_index("ix_alert_changes_at", "alert_changes", schema=S)

    op.create_index("ix_alerts_recent", "alerts", RECENT, schema=S)
    op.create_index(
        "ix_alerts_status_recent",
        "alerts",
        ["status", "last_seen", "id", "priority", "city_code", "admin_code"],
        schema=S,
    )
    op.create_index(
        "ix_alerts_city_recent",
        "alerts",
        ["city_code", "last_seen", "id", "admin_code", "status", "priority"],
        schema=S,
    )
    for v in VIOLATIONS:
        op.create_index(
            f"ix_alerts_recent_{v}",
            "alerts",
            RECENT,
            schema=S,
            postgresql_where=sa.text(f"violations @> ARRAY['{v}']::text[]"),
        )
    for k in RARE_KINDS:
        op.create_index(
            f"ix_alerts_recent_{k}", "alerts", RECENT, schema=S, postgresql_where=sa.text(f"kind = '{k}'")
        )
    brin = {"postgresql_using": "brin", "postgresql_with": {"autosummarize": "on"}}
    op.create_index("ix_alerts_first_seen", "alerts", ["first_seen"], schema=S, **brin)
    op.create_index("ix_sightings_captured_at", "sightings", ["captured_at"], schema=S, **brin)
    op.create_index("ix_alert_changes_at", "alert_changes", ["at"], schema=S, **brin)


def downgrade() -> None:
    for name in (
        "ix_alerts_first_seen",
        "ix_alerts_recent",
        "ix_alerts_status_recent",
        "ix_alerts_city_recent",
    ):
        op.drop_index(name, "alerts", schema=S)
    for v in (*VIOLATIONS, *RARE_KINDS):
        op.drop_index(f"ix_alerts_recent_{v}", "alerts", schema=S)
    op.drop_index("ix_sightings_captured_at", "sightings", schema=S)
    op.drop_index("ix_alert_changes_at", "alert_changes", schema=S)
    for name, cols in _OLD.items():
        op.create_index(name, "alerts", cols, schema=S)
    op.create_index("ix_alerts_violations", "alerts", ["violations"], schema=S, postgresql_using="gin")
    op.create_index("ix_alerts_first_seen", "alerts", ["first_seen"], schema=S)
    op.create_index("ix_sightings_captured_at", "sightings", ["captured_at"], schema=S)
    op.create_index("ix_alert_changes_at", "alert_changes", ["at"], schema=S)
