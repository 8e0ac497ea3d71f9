"""dispatch: shared-credential supervision (patrol devices seen, credential events) and task events

Revision ID: dispatch_0007
Revises: dispatch_0005
"""

from alembic import op

revision = "dispatch_0007"
down_revision = "dispatch_0005"
branch_labels = None
depends_on = None

S = "dispatch"

DDL = f"""
CREATE TABLE {S}.patrol_devices (
    officer_id varchar(64) PRIMARY KEY,
    device_id varchar(128) NOT NULL,
    unit_id varchar(64),
    last_seen timestamptz NOT NULL
);
CREATE TABLE {S}.credential_events (
    id varchar(40) PRIMARY KEY,
    kind varchar(16) NOT NULL CHECK (kind IN ('two_devices', 'off_roster')),
    officer_id varchar(64) NOT NULL,
    role varchar(32) NOT NULL,
    unit_id varchar(64),
    device_id varchar(128),
    other_device_id varchar(128),
    action varchar(200) NOT NULL,
    admin_code varchar(12) NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX ix_credential_events_at ON {S}.credential_events (at DESC, id DESC);
CREATE INDEX ix_credential_events_admin ON {S}.credential_events (admin_code varchar_pattern_ops, at DESC);
CREATE TABLE {S}.task_events (
    id varchar(40) PRIMARY KEY,
    kind varchar(32) NOT NULL,
    alert_id varchar(128) NOT NULL,
    task_id varchar(40),
    priority varchar(2) NOT NULL,
    reason text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{{}}',
    admin_code varchar(12) NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX ix_task_events_task ON {S}.task_events (task_id, at);
CREATE INDEX ix_task_events_at ON {S}.task_events (at DESC, id DESC);
ALTER TABLE {S}.alerts ADD COLUMN requeued_at timestamptz
"""


def upgrade() -> None:
    for statement in filter(str.strip, DDL.split(";")):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.alerts DROP COLUMN requeued_at")
    op.execute(f"DROP TABLE {S}.task_events")
    op.execute(f"DROP TABLE {S}.credential_events")
    op.execute(f"DROP TABLE {S}.patrol_devices")
