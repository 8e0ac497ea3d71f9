"""dispatch: dead letters, for what its consumers cannot apply and its relays cannot publish

Revision ID: dispatch_0003
Revises: dispatch_0002
"""

from alembic import op

from qzx_common.kafka.deadletter import create_dead_letters_table

revision = "dispatch_0003"
down_revision = "dispatch_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_dead_letters_table("dispatch")


def downgrade() -> None:
    op.drop_table("dead_letters", schema="dispatch")
