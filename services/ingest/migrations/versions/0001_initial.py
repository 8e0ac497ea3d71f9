"""ingest: violations, dead letters, outbox

Revision ID: ingest_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from qzx_common.kafka.outbox import create_outbox_table

revision = "ingest_0001"
down_revision = None
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.create_table(
        "violations",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("violation", sa.String(32), nullable=False),
        sa.Column("plate", sa.String(16)),
        sa.Column("admin_code", sa.String(6), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_violations"),
        schema=S,
    )
    op.create_index("ix_violations_captured", "violations", ["captured_at", "event_id"], schema=S)
    op.create_index("ix_violations_plate_captured", "violations", ["plate", "captured_at"], schema=S)
    op.create_index("ix_violations_admin_captured", "violations", ["admin_code", "captured_at"], schema=S)
    op.create_index("ix_violations_violation_captured", "violations", ["violation", "captured_at"], schema=S)

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_partition", sa.Integer),
        sa.Column("source_offset", sa.BigInteger),
        sa.Column("key", sa.LargeBinary),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
        sa.UniqueConstraint(
            "source",
            "source_partition",
            "source_offset",
            name="uq_dead_letters_source_source_partition_source_offset",
        ),
        schema=S,
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"], schema=S)

    create_outbox_table(S)


def downgrade() -> None:
    op.drop_table("outbox", schema=S)
    op.drop_table("dead_letters", schema=S)
    op.drop_table("violations", schema=S)
