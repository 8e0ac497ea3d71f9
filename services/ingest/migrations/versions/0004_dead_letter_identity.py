"""ingest: dead letters keep an identity that survives a broker starting afresh

A broker position is no identity: the embedded broker keeps nothing across a restart and a
recreated topic starts again at offset 0, so unique (source, partition, offset) dropped every new
dead letter whose position had been used before. A record is now the same one when its position,
its broker timestamp and the digest of its key and value agree (``qzx_common.kafka.deadletter``).
The consumer group that gave up on it is kept too.

Revision ID: ingest_0004
Revises: ingest_0003
"""

import sqlalchemy as sa
from alembic import op

from qzx_common.kafka.deadletter import IDENTITY

revision = "ingest_0004"
down_revision = "ingest_0003"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.add_column("dead_letters", sa.Column("source_timestamp", sa.BigInteger), schema=S)
    op.add_column("dead_letters", sa.Column("digest", sa.LargeBinary), schema=S)
    op.add_column("dead_letters", sa.Column("consumer", sa.String(200)), schema=S)
    op.drop_constraint("uq_dead_letters_source_source_partition_source_offset", "dead_letters", schema=S)
    op.create_index("uq_dead_letters_identity", "dead_letters", list(IDENTITY), unique=True, schema=S)


def downgrade() -> None:
    op.drop_index("uq_dead_letters_identity", table_name="dead_letters", schema=S)
    op.create_unique_constraint(
        "uq_dead_letters_source_source_partition_source_offset",
        "dead_letters",
        ["source", "source_partition", "source_offset"],
        schema=S,
    )
    for column in ("consumer", "digest", "source_timestamp"):
        op.drop_column("dead_letters", column, schema=S)
