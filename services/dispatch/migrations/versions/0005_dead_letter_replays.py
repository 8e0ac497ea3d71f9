"""dispatch: dead letters record their replays (`qzx dlq replay`), so a second replay skips them

Revision ID: dispatch_0005
Revises: dispatch_0004
"""

from alembic import op

from qzx_common.kafka.deadletter import add_replay_columns

revision = "dispatch_0005"
down_revision = "dispatch_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_replay_columns("dispatch")


def downgrade() -> None:
    op.drop_column("dead_letters", "replays", schema="dispatch")
    op.drop_column("dead_letters", "replayed_at", schema="dispatch")
