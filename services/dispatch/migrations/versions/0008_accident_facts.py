"""dispatch: the accidents the shift planner's demand weighs (docs/decisions/0016)

dispatch consumes accidents.accepted.v1 (group ``qzx-dispatch-accidents``) and keeps, of each
accident, what the demand's accident layer needs: when and where, severity, rural, and whether it
was at a road market (market-day risk). One row per accident, so a redelivery counts once; the
planner aggregates by hour of week in SQL (a year of a province is about 30,000 rows).

Revision ID: dispatch_0008
Revises: dispatch_0005
"""

from alembic import op

revision = "dispatch_0008"
down_revision = "dispatch_0007"
branch_labels = None
depends_on = None

S = "dispatch"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {S}.accident_facts (
            accident_id varchar(128) COLLATE "C" PRIMARY KEY,
            occurred_at timestamptz NOT NULL,
            admin_code varchar(6) COLLATE "C" NOT NULL,
            severity varchar(16) COLLATE "C" NOT NULL,
            road_feature varchar(16) COLLATE "C" NOT NULL,
            rural boolean NOT NULL
        )
        """
    )
    op.execute(
        f"CREATE INDEX ix_accident_facts_admin_occurred ON {S}.accident_facts (admin_code, occurred_at)"
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.accident_facts")
