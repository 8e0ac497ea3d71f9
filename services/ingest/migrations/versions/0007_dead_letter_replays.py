"""ingest: dead letters record their replays (`qzx dlq replay`), so a second replay skips them

Revision ID: ingest_0007
Revises: ingest_0006
"""

from alembic import op

from qzx_common.kafka.deadletter import add_replay_columns

revision = "ingest_0007"
down_revision = "ingest_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_replay_columns("ingest")


def downgrade() -> None:
    op.drop_column("dead_letters", "replays", schema="ingest")
    op.drop_column("dead_letters", "replayed_at", schema="ingest")
