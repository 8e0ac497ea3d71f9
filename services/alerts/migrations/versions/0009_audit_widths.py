"""alerts: the audit log has room for every target id and admin code

An exchange batch is audited as ``<key id>:<nonce>``, up to 177 characters, and a 128-character
nonce (allowed by the contract) overflowed ``target_id varchar(128)``, failing the batch after its
nonce was spent. Jurisdictions and admin codes reach 12 digits (village level).

Revision ID: alerts_0009
Revises: alerts_0008
"""

from qzx_common.audit import widen_audit_columns

revision = "alerts_0009"
down_revision = "alerts_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    widen_audit_columns("alerts")


def downgrade() -> None:
    pass  # narrowing could fail on rows written since; the wider columns are harmless
