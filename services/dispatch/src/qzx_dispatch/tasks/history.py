"""Task events: what happened to an alert's dispatch besides a task's own changes (a pre-emption,
a re-queued alert, an escalation), stored for the task history and the supervisors."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.db import before_key
from qzx_dispatch.tasks.models import TaskEvent


def event(
    *,
    kind: str,
    alert_id: str,
    task_id: str | None,
    priority: str,
    reason: str,
    admin_code: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> TaskEvent:
    return TaskEvent(
        id="E" + uuid.uuid4().hex,
        kind=kind,
        alert_id=alert_id,
        task_id=task_id,
        priority=priority,
        reason=reason,
        detail=detail or {},
        admin_code=admin_code,
        at=now,
    )


async def add(session: AsyncSession, **fields: Any) -> TaskEvent:
    """Store one ``event(**fields)``."""
    row = event(**fields)
    session.add(row)
    await session.flush()
    return row


async def add_many(session: AsyncSession, rows: Sequence[TaskEvent]) -> None:
    session.add_all(rows)
    await session.flush()


async def of_task(session: AsyncSession, *, task_id: str, alert_id: str) -> list[TaskEvent]:
    """The task's events and its alert's (re-queued, waiting), oldest first."""
    q = (
        select(TaskEvent)
        .where(
            or_(TaskEvent.task_id == task_id, (TaskEvent.alert_id == alert_id) & TaskEvent.task_id.is_(None))
        )
        .order_by(TaskEvent.at, TaskEvent.id)
    )
    return list((await session.scalars(q)).all())


async def search(
    session: AsyncSession,
    *,
    jur: str,
    kinds: Sequence[str],
    since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[TaskEvent]:
    """Events of these kinds under ``jur``, newest first."""
    q = select(TaskEvent).where(
        TaskEvent.kind.in_(kinds), TaskEvent.admin_code.startswith(jur, autoescape=True)
    )
    if since is not None:
        q = q.where(TaskEvent.at >= since)
    if after is not None:
        q = q.where(before_key((TaskEvent.at, TaskEvent.id), after))
    q = q.order_by(TaskEvent.at.desc(), TaskEvent.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
