"""alerts: dead letters, for what its consumers cannot apply and its relays cannot publish

Revision ID: alerts_0008
Revises: alerts_0007
"""

from alembic import op

from qzx_common.kafka.deadletter import create_dead_letters_table

revision = "alerts_0008"
down_revision = "alerts_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_dead_letters_table("alerts")


def downgrade() -> None:
    op.drop_table("dead_letters", schema="alerts")
