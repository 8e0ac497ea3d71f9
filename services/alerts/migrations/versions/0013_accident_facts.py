"""alerts: the facts of every accepted accident (reports, black spots)

alerts keeps only injury and fatal accidents as alerts; the assessment reports count every accident
(property-only too) by severity, casualties, rural and e-bike flags, and black-spot analysis needs
each accident's point. ``accident_facts`` holds those columns of each AccidentReport alerts
consumes from accidents.accepted.v1, written in the same transaction as its alert (alerts never
reads ingest's schema). (admin_code, occurred_at) serves a jurisdiction's period.

Revision ID: alerts_0013
Revises: alerts_0012
"""

from alembic import op

revision = "alerts_0013"
down_revision = "alerts_0012"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {S}.accident_facts (
            accident_id varchar(128) COLLATE "C" PRIMARY KEY,
            occurred_at timestamptz NOT NULL,
            admin_code varchar(6) COLLATE "C" NOT NULL,
            lat float8 NOT NULL,
            lon float8 NOT NULL,
            road varchar(64),
            road_feature varchar(16) COLLATE "C" NOT NULL,
            severity varchar(16) COLLATE "C" NOT NULL,
            injured integer NOT NULL,
            killed integer NOT NULL,
            ebike_involved boolean NOT NULL,
            rural boolean NOT NULL
        )
        """
    )
    op.execute(
        f"CREATE INDEX ix_accident_facts_admin_occurred ON {S}.accident_facts (admin_code, occurred_at)"
    )
    op.execute(f"CREATE INDEX ix_accident_facts_occurred ON {S}.accident_facts USING brin (occurred_at)")


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.accident_facts")
