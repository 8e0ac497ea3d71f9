"""alerts: exchange nonces, shared token deny-list

Revision ID: alerts_0003
Revises: alerts_0002
"""

from alembic import op

from qzx_common.web.exchange import create_nonce_table
from qzx_common.web.revocation import create_revocation_table

revision = "alerts_0003"
down_revision = "alerts_0002"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    create_nonce_table(S)
    create_revocation_table()


def downgrade() -> None:
    # The deny-list is shared by every service: it stays.
    op.drop_table("exchange_nonces", schema=S)
