"""The pending queue: alerts that need a unit and have none yet (``alerts.state = 'pending'``),
listed for the dispatchers and retried at once when a unit of their city frees up."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.geo import code_prefix
from qzx_dispatch.tasks.models import AlertRecord

# Since when the alert waits: its first sighting, or when it was re-queued (its unit pre-empted).
WAITING_SINCE = func.coalesce(AlertRecord.requeued_at, AlertRecord.first_seen)


async def retry_now(session: AsyncSession, *, city_code: str, now: datetime) -> int:
    """A unit of ``city_code`` came free (task closed, back available, new shift): its city's
    pending alerts are due now rather than at their next periodic try. Returns how many.

    The rows are taken in id order and those another transaction holds are skipped (SKIP LOCKED):
    two of these at once (two officers closing tasks in one city), or one beside the intake's
    upsert of the same alerts, would otherwise lock a city's rows in opposite orders and deadlock,
    failing an officer's action. A skipped row is that transaction's to change; at worst it keeps
    its periodic try."""
    due = (
        select(AlertRecord.alert_id)
        .where(
            AlertRecord.state == "pending",
            AlertRecord.admin_code.startswith(code_prefix(city_code), autoescape=True),
            AlertRecord.next_try_at > now,
        )
        .order_by(AlertRecord.alert_id)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        update(AlertRecord)
        .where(AlertRecord.alert_id.in_(due.scalar_subquery()))
        .values(next_try_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def waiting(
    session: AsyncSession,
    *,
    jur: str,
    priority: str | None,
    after: tuple[str, datetime, str] | None,
    limit: int,
) -> list[tuple[AlertRecord, datetime]]:
    """Pending alerts under ``jur``, most urgent first (priority, then longest waiting)."""
    since = WAITING_SINCE.label("waiting_since")
    q = select(AlertRecord, since).where(
        AlertRecord.state == "pending", AlertRecord.admin_code.startswith(jur, autoescape=True)
    )
    if priority is not None:
        q = q.where(AlertRecord.priority == priority)
    if after is not None:
        q = q.where(tuple_(AlertRecord.priority, WAITING_SINCE, AlertRecord.alert_id) > tuple_(*after))
    q = q.order_by(AlertRecord.priority, WAITING_SINCE, AlertRecord.alert_id).limit(limit)
    return [(row, at) for row, at in (await session.execute(q)).all()]


async def overdue_p1(
    session: AsyncSession, *, now: datetime, wait: timedelta, limit: int
) -> list[AlertRecord]:
    """Pending P1 alerts waiting longer than ``wait`` whose current wait was not escalated yet
    (locked, SKIP LOCKED: replicas share them)."""
    q = (
        select(AlertRecord)
        .where(
            AlertRecord.state == "pending",
            AlertRecord.priority == "P1",
            now - wait >= WAITING_SINCE,
            or_(AlertRecord.wait_escalated_at.is_(None), AlertRecord.wait_escalated_at < WAITING_SINCE),
        )
        .order_by(WAITING_SINCE)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(q)).all())
