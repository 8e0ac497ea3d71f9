"""alerts: dead letters record their replays (`qzx dlq replay`), so a second replay skips them

Revision ID: alerts_0010
Revises: alerts_0009
"""

from alembic import op

from qzx_common.kafka.deadletter import add_replay_columns

revision = "alerts_0010"
down_revision = "alerts_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_replay_columns("alerts")


def downgrade() -> None:
    op.drop_column("dead_letters", "replays", schema="alerts")
    op.drop_column("dead_letters", "replayed_at", schema="alerts")
