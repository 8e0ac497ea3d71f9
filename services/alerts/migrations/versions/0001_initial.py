"""alerts: outbox

Revision ID: alerts_0001
Revises:
"""

from qzx_common.kafka.outbox import create_outbox_table

revision = "alerts_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_table("alerts")


def downgrade() -> None:
    from alembic import op

    op.drop_table("outbox", schema="alerts")
