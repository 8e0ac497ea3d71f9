"""alerts: the change log is alerts.v1's outbox

Every alert state was written twice per change, to ``alert_changes`` (the SSE stream's log) and to
``outbox`` (deleted again once relayed). The log now feeds the topic itself: ``log_cursors`` holds
how far each published log has got. It starts at the log's end, because what is there now went out
through the outbox (whose relay still drains rows left from before).

Revision ID: alerts_0006
Revises: alerts_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "alerts_0006"
down_revision = "alerts_0005"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.create_table(
        "log_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        schema=S,
    )
    op.execute(
        f"INSERT INTO {S}.log_cursors (name, position) "
        f"SELECT 'alerts.v1', coalesce(max(id), 0) FROM {S}.alert_changes"
    )


def downgrade() -> None:
    op.drop_table("log_cursors", schema=S)
