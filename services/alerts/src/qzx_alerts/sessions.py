"""What the pool runs on every new connection (``create_engine(session_sql=...)``): the scratch
tables the scoring batch stages into (see ``db.ScratchTable``)."""

from __future__ import annotations

from qzx_alerts.alerts.columns import STAGED_ALERTS
from qzx_alerts.history.repository import STAGED as STAGED_SIGHTINGS

SESSION_SQL = tuple(table.create_sql() for table in (STAGED_SIGHTINGS, STAGED_ALERTS))
