"""ingest: the audit log has room for every target id and admin code

An exchange batch is audited as ``<key id>:<nonce>``, up to 177 characters, and a 128-character
nonce (allowed by the contract) overflowed ``target_id varchar(128)``, failing the batch after its
nonce was spent. Jurisdictions and admin codes reach 12 digits (village level).

Revision ID: ingest_0005
Revises: ingest_0004
"""

from qzx_common.audit import widen_audit_columns

revision = "ingest_0005"
down_revision = "ingest_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    widen_audit_columns("ingest")


def downgrade() -> None:
    pass  # narrowing could fail on rows written since; the wider columns are harmless
