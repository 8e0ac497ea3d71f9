"""alerts: a hotlist entry is one per (source, owning admin code, plate)

Two cities may each list the same plate from the console; the ids of existing entries keep
their value (they are opaque), only the uniqueness rule widens.

Revision ID: alerts_0005
Revises: alerts_0004
"""

from alembic import op

revision = "alerts_0005"
down_revision = "alerts_0004"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.drop_constraint("uq_hotlists_source_plate", "hotlists", schema=S, type_="unique")
    op.create_unique_constraint(
        "uq_hotlists_source_admin_code_plate", "hotlists", ["source", "admin_code", "plate"], schema=S
    )


def downgrade() -> None:
    op.drop_constraint("uq_hotlists_source_admin_code_plate", "hotlists", schema=S, type_="unique")
    op.create_unique_constraint("uq_hotlists_source_plate", "hotlists", ["source", "plate"], schema=S)
