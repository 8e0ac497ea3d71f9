"""alerts: the passages that hotlist hits and plate fraud from passages link to

An alert raised from passages names passage ids in ``event_ids``; its detail shows them from this
table (alerts never reads ingest's schema). The matcher stores each linked passage with the
finding, in the same transaction; passages that raise nothing are not kept.

Revision ID: alerts_0012
Revises: alerts_0011
"""

from alembic import op

revision = "alerts_0012"
down_revision = "alerts_0011"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {S}.passage_sightings (
            passage_id varchar(128) PRIMARY KEY,
            plate varchar(16),
            device_id varchar(64) NOT NULL,
            lat double precision NOT NULL,
            lon double precision NOT NULL,
            admin_code varchar(6) NOT NULL,
            captured_at timestamptz NOT NULL,
            road varchar(64),
            km double precision
        )
        """
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.passage_sightings")
