"""alerts.v1 → dispatch: keep the latest version of every alert (the demand history too), and give
each alert that needs action a task. Idempotent on (alert id, version).

``intake_batch`` applies a consumed batch in the caller's one transaction, a statement per step for
the whole batch: the alerts upserted, the ones with tasks found, the free units ranked in memory
(``board``), claimed, the tasks inserted and announced. An alert that path cannot settle (closing
an alert with an active task, no free unit in memory, a unit taken by another transaction) goes
through ``intake``'s one-alert path, in the same transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.alerts import Alert, is_covert_hit
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import preempt, repository, service
from qzx_dispatch.tasks.models import AlertRecord

CLOSED = frozenset({"dismissed", "resolved"})
# A covert checkpoint hit goes to the commanders (alerts console), never to a patrol app.
COVERT_REASON = "covert hotlist hit: for commanders only, not sent to patrol apps"


def alert_values(alert: Alert) -> dict[str, object]:
    return {
        "alert_id": alert.id,
        "version": alert.version,
        "status": alert.status.value,
        "priority": alert.priority.value,
        "kind": alert.kind,
        "violations": list(alert.violations),
        "admin_code": alert.location.admin_code,
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "payload": alert.model_dump_json(),
    }


async def intake(session: AsyncSession, *, alert: Alert, settings: DispatchSettings, now: datetime) -> str:
    """Apply one alert version; returns what happened (for metrics and tests)."""
    if not await repository.upsert_alert(session, alert_values(alert)):
        return "stale"
    return await apply(session, alert=alert, settings=settings, now=now)


async def apply(session: AsyncSession, *, alert: Alert, settings: DispatchSettings, now: datetime) -> str:
    """Act on an alert version just stored (its row is locked by the upsert)."""
    row = await repository.get_alert(session, alert.id, lock=True)
    assert row is not None
    if alert.status.value in CLOSED:
        active = await repository.active_for_alert(session, alert.id)
        if active is not None:
            await service.close(
                session,
                active,
                status="cancelled",
                reason=f"alert {alert.status.value}",
                now=now,
                settings=settings,
            )
            await service.record_system(session, actor="system:intake", action="task.cancel", task=active)
        row.state = "closed"
        return "closed"
    if alert.status.value != "new":
        return "tracked"  # dispatched / signed / escalated: states our own tasks drive
    if is_covert_hit(alert):
        row.state, row.last_reason = "handled", COVERT_REASON
        return "covert"
    return await try_assign(session, row=row, alert=alert, settings=settings, now=now)


async def try_assign(
    session: AsyncSession, *, row: AlertRecord, alert: Alert, settings: DispatchSettings, now: datetime
) -> str:
    since = max(alert.last_seen, row.requeued_at or alert.last_seen)  # a re-queued alert's old tasks
    if await repository.active_for_alert(session, alert.id) is not None or await repository.handled_since(
        session, alert.id, since
    ):
        row.state = "handled"
        return "handled"
    result = await service.assign_alert(session, alert=alert, settings=settings, now=now)
    if result.task is None:  # no free unit: a P1 may take one from lower-priority work
        result = await preempt.take_busy_unit(session, alert=alert, settings=settings, now=now) or result
    row.attempts += 1
    if result.task is None:
        row.state = "pending"
        row.last_reason = result.reason
        row.next_try_at = now + timedelta(seconds=settings.pending_retry_s)
        return "pending"
    row.state, row.last_reason, row.next_try_at = "handled", None, None
    await service.record_system(session, actor="system:assign", action="task.assign", task=result.task)
    return "assigned"
