"""alerts: hotlist entries may name a plate colour; every change to an entry is logged; hits listed by kind

The checkpoint matcher (``qzx_alerts.checkpoints``) holds every active entry in memory and must
hear of each change without a database round trip per passage: a trigger appends the id of every
entry inserted, updated or deleted to ``hotlist_changes``, which each matcher polls (ids after its
cursor, and the last seconds again: an identity id may become visible after a larger one). A
delete leaves no row to read, which is why a log and not ``updated_at``.

Revision ID: alerts_0011
Revises: alerts_0010
"""

import sqlalchemy as sa
from alembic import op

revision = "alerts_0011"
down_revision = "alerts_0010"
branch_labels = None
depends_on = None

S = "alerts"


# The console's "hits" filter, as alerts_0004 made one for each of the other finding kinds.
RECENT = ("last_seen", "id", "status", "priority", "city_code", "admin_code")


def upgrade() -> None:
    op.create_index(
        "ix_alerts_recent_hotlist_hit", "alerts", list(RECENT), schema=S,
        postgresql_where=sa.text("kind = 'hotlist_hit'"),
    )  # fmt: skip
    op.execute(f"ALTER TABLE {S}.hotlists ADD COLUMN plate_color varchar(16)")
    op.execute(
        f"""
        CREATE TABLE {S}.hotlist_changes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            entry_id varchar(64) NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    op.execute(f"CREATE INDEX ix_hotlist_changes_at ON {S}.hotlist_changes (at)")
    op.execute(
        f"""
        CREATE FUNCTION {S}.hotlist_changed() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            INSERT INTO {S}.hotlist_changes (entry_id)
            VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
            RETURN NULL;
        END
        $fn$
        """
    )
    op.execute(
        f"CREATE TRIGGER hotlist_changed AFTER INSERT OR UPDATE OR DELETE ON {S}.hotlists "
        f"FOR EACH ROW EXECUTE FUNCTION {S}.hotlist_changed()"
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_recent_hotlist_hit", "alerts", schema=S)
    op.execute(f"DROP TRIGGER hotlist_changed ON {S}.hotlists")
    op.execute(f"DROP FUNCTION {S}.hotlist_changed()")
    op.execute(f"DROP TABLE {S}.hotlist_changes")
    op.execute(f"ALTER TABLE {S}.hotlists DROP COLUMN plate_color")
