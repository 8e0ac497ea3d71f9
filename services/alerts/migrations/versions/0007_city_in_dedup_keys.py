"""alerts: dedup keys name the city

Sightings of two cities never meet in one alert any more (``scoring.domain``: ``v:<city>:...``,
``fraud:<city>:...``, ``racing:seg:<city>:...``). Stored alerts get the key of their city, so that
open ones go on absorbing their city's sightings and the plate filter finds every alert.

Revision ID: alerts_0007
Revises: alerts_0006
"""

from alembic import op

revision = "alerts_0007"
down_revision = "alerts_0006"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.execute(
        f"UPDATE {S}.alerts SET dedup_key = regexp_replace("
        "dedup_key, '^(v|fraud|racing:seg|racing:dev):', '\\1:' || left(admin_code, 4) || '00:') "
        "WHERE dedup_key ~ '^(v|fraud|racing:seg|racing:dev):'"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE {S}.alerts SET dedup_key = regexp_replace("
        "dedup_key, '^(v|fraud|racing:seg|racing:dev):[0-9]{6}:', '\\1:') "
        "WHERE dedup_key ~ '^(v|fraud|racing:seg|racing:dev):[0-9]{6}:'"
    )
