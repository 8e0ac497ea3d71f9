"""ingest: accident reports, stored once by accident id

``ingest.accidents`` holds each accepted AccidentReport (normalised JSON in ``payload``) with the
columns the list filters on. The primary key on ``accident_id`` makes every path idempotent: a report
delivered again (a Kafka redelivery, an exchange retry, a second call about the same accident) is
stored once. (occurred_at, accident_id) is the list's keyset order; (admin_code, occurred_at) serves
a district's accidents.

``ingest.accident_quick_cases`` holds the property-only accidents on a main road that go to quick
handling (事故快处): open when stored, closed once with the agreed outcome and the time the road was
cleared (``clear_s``, seconds from the accident, which the quick-handling report sums up).

Revision ID: ingest_0009
Revises: ingest_0008
"""

from alembic import op

revision = "ingest_0009"
down_revision = "ingest_0008"
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
    op.execute(
        f"""
        CREATE TABLE {S}.accident_quick_cases (
            accident_id varchar(128) COLLATE "C" PRIMARY KEY REFERENCES {S}.accidents (accident_id),
            admin_code varchar(6) COLLATE "C" NOT NULL,
            occurred_at timestamptz NOT NULL,
            status varchar(8) COLLATE "C" NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            outcome varchar(16) COLLATE "C",
            road_cleared_at timestamptz,
            clear_s integer CHECK (clear_s >= 0),
            closed_by varchar(256),
            note varchar(2000)
        )
        """
    )
    op.execute(
        f"CREATE INDEX ix_accident_quick_cases_admin_occurred ON {S}.accident_quick_cases (admin_code, occurred_at)"
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.accident_quick_cases")
    op.execute(f"DROP TABLE {S}.accidents")
