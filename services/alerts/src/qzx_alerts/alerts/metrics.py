"""Alert gauges operators alert on (docs/metrics.md), set by the runtime's metrics sampler."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.db import SCHEMA
from qzx_common.contracts.alerts import Priority

PENDING = Gauge("qzx_alerts_pending", "Alerts still new with no task, by priority", ["priority"])
PENDING_OLDEST = Gauge(
    "qzx_alerts_pending_oldest_age_seconds",
    "How long the oldest pending alert has waited since it was first seen, by priority (0: none waits)",
    ["priority"],
)
ESCALATED = Gauge("qzx_alerts_escalated", "Alerts escalated and not yet resolved, by priority", ["priority"])

_COUNTS = text(
    f"SELECT priority, count(*) FILTER (WHERE status = 'new' AND task_id IS NULL), "
    f"EXTRACT(EPOCH FROM now() - min(first_seen) FILTER (WHERE status = 'new' AND task_id IS NULL)), "
    f"count(*) FILTER (WHERE status = 'escalated') "
    f"FROM {SCHEMA}.alerts WHERE status IN ('new', 'escalated') GROUP BY priority"
)


async def sample_alerts(conn: AsyncConnection) -> None:
    seen = {p.value: (0, 0.0, 0) for p in Priority}
    for priority, pending, oldest, escalated in await conn.execute(_COUNTS):
        seen[priority] = (pending, float(oldest or 0), escalated)
    for priority, (pending, oldest, escalated) in seen.items():
        PENDING.labels(priority).set(pending)
        PENDING_OLDEST.labels(priority).set(oldest)
        ESCALATED.labels(priority).set(escalated)
