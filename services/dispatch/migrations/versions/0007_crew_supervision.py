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
ALTER TABLE {S}.alerts ADD COLUMN requeued_at timestamptz;
ALTER TABLE {S}.alerts ADD COLUMN wait_escalated_at timestamptz;
CREATE TABLE {S}.webhook_deliveries (
    id varchar(40) PRIMARY KEY,
    event_id varchar(40) NOT NULL,
    body jsonb NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_try_at timestamptz NOT NULL,
    last_error text,
    created_at timestamptz NOT NULL,
    done_at timestamptz
);
CREATE INDEX ix_webhook_deliveries_due ON {S}.webhook_deliveries (next_try_at) WHERE state = 'pending';
ALTER TABLE {S}.tasks ADD COLUMN aid_admin_code varchar(12);
CREATE INDEX ix_tasks_aid_admin_code ON {S}.tasks (aid_admin_code varchar_pattern_ops)
    WHERE aid_admin_code IS NOT NULL;
CREATE TABLE {S}.mutual_aid (
    id varchar(40) PRIMARY KEY,
    alert_id varchar(128) NOT NULL,
    unit_id varchar(64) NOT NULL REFERENCES {S}.units (id) ON DELETE CASCADE,
    alert_admin_code varchar(12) NOT NULL,
    unit_admin_code varchar(12) NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'accepted', 'declined')),
    reason text NOT NULL,
    proposed_by varchar(64) NOT NULL,
    decided_by varchar(64),
    decision_reason text,
    task_id varchar(40),
    created_at timestamptz NOT NULL,
    decided_at timestamptz
);
CREATE INDEX ix_mutual_aid_created ON {S}.mutual_aid (created_at DESC, id DESC)
"""


def upgrade() -> None:
    for statement in filter(str.strip, DDL.split(";")):
        op.execute(statement)


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.mutual_aid")
    op.execute(f"ALTER TABLE {S}.tasks DROP COLUMN aid_admin_code")
    op.execute(f"DROP TABLE {S}.webhook_deliveries")
    op.execute(f"ALTER TABLE {S}.alerts DROP COLUMN wait_escalated_at")
    op.execute(f"ALTER TABLE {S}.alerts DROP COLUMN requeued_at")
    op.execute(f"DROP TABLE {S}.task_events")
    op.execute(f"DROP TABLE {S}.credential_events")
    op.execute(f"DROP TABLE {S}.patrol_devices")
