"""ingest: accident reports, stored once by accident id

``ingest.accidents`` holds each accepted AccidentReport (normalised JSON in ``payload``) with the
columns the list filters on. The primary key on ``accident_id`` makes every path idempotent: a report
delivered again (a Kafka redelivery, an exchange retry, a second call about the same accident) is
stored once. (occurred_at, accident_id) is the list's keyset order; (admin_code, occurred_at) serves
a district's accidents.

Revision ID: ingest_0008
Revises: ingest_0007
"""

from alembic import op

revision = "ingest_0008"
down_revision = "ingest_0007"
branch_labels = None
depends_on = None

S = "ingest"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {S}.accidents (
            accident_id varchar(128) COLLATE "C" PRIMARY KEY,
            occurred_at timestamptz NOT NULL,
            admin_code varchar(6) COLLATE "C" NOT NULL,
            severity varchar(16) COLLATE "C" NOT NULL,
            road_feature varchar(16) COLLATE "C" NOT NULL,
            injured integer NOT NULL,
            killed integer NOT NULL,
            ebike_involved boolean NOT NULL,
            rural boolean NOT NULL,
            lat float8 NOT NULL,
            lon float8 NOT NULL,
            reporter varchar(256) NOT NULL,
            payload jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(f"CREATE INDEX ix_accidents_occurred ON {S}.accidents (occurred_at, accident_id)")
    op.execute(f"CREATE INDEX ix_accidents_admin_occurred ON {S}.accidents (admin_code, occurred_at)")


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.accidents")
