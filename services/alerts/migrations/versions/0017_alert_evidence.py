"""alerts: each alert carries its latest finding's pictures (``evidence``)

An officer sent to an alert in another district (or another city, on mutual aid) may read neither
the camera events nor their pictures from ingest, which shows each person their own jurisdiction's
events only. The task is the officer's reason to see the vehicle, so the alert carries the evidence
of its latest events (``contracts.alerts.AlertEvidence``, at most ``EVIDENCE_KEPT``) into alerts.v1,
and dispatch hands it to the phone with the task. Alerts raised before this have none (a constant
default: no table rewrite).

Revision ID: alerts_0017
Revises: alerts_0016
"""

from alembic import op

revision = "alerts_0017"
down_revision = "alerts_0016"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.execute(f"ALTER TABLE {S}.alerts ADD COLUMN evidence jsonb NOT NULL DEFAULT '[]'::jsonb")


def downgrade() -> None:
    op.execute(f"ALTER TABLE {S}.alerts DROP COLUMN evidence")
