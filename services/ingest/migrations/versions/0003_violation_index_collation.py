"""ingest: byte-order collation on the indexed text columns; the plate index skips plateless rows

Every accepted event enters the primary key and four filter indexes; with the database's locale
collation each B-tree step compares text through strcoll. Event ids, plates, admin codes and
violation names are identifiers, not prose: compared byte by byte ("C") the same indexes cost
about a sixth less per insert (measured with COPY into the indexed table), equality filters find
the same rows, and an admin-code prefix (LIKE '3701%') can now use its index as a range. Rows
without a plate (e-bikes, no_plate) are never searched by plate, so that index leaves them out.
Every API filter keeps its index: plate, violation, admin_code prefix, and captured_at for the
keyset order.

Revision ID: ingest_0003
Revises: ingest_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "ingest_0003"
down_revision = "ingest_0002"
branch_labels = None
depends_on = None

S = "ingest"
COLUMNS = {"event_id": 128, "violation": 32, "plate": 16, "admin_code": 6}


def _collate(collation: str) -> None:
    clauses = ", ".join(
        f'ALTER COLUMN {name} TYPE varchar({length}) COLLATE "{collation}"'
        for name, length in COLUMNS.items()
    )
    op.execute(f"ALTER TABLE {S}.violations {clauses}")  # one pass; the indexes are rebuilt


def upgrade() -> None:
    _collate("C")
    op.drop_index("ix_violations_plate_captured", table_name="violations", schema=S)
    op.create_index(
        "ix_violations_plate_captured",
        "violations",
        ["plate", "captured_at"],
        schema=S,
        postgresql_where=sa.text("plate IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_violations_plate_captured", table_name="violations", schema=S)
    op.create_index("ix_violations_plate_captured", "violations", ["plate", "captured_at"], schema=S)
    _collate("default")
