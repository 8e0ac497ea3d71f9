"""ingest: exchange nonces, audit log, shared token deny-list

Revision ID: ingest_0002
Revises: ingest_0001
"""

from alembic import op

from qzx_common.audit import create_audit_table
from qzx_common.web.exchange import create_nonce_table
from qzx_common.web.revocation import create_revocation_table

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    create_nonce_table(S)
    create_audit_table(S)
    create_revocation_table()


def downgrade() -> None:
    # The deny-list is shared by every service: it stays.
    op.drop_table("audit_log", schema=S)
    op.execute(f'DROP FUNCTION IF EXISTS "{S}".audit_log_append_only()')
    op.drop_table("exchange_nonces", schema=S)
