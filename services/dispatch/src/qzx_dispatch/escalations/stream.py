"""The escalations as Server-Sent Events (``GET /v1/dispatch/escalations/stream``, decision 0019):
the stored task events re-read under the caller's jurisdiction whenever a NOTIFY says one was
committed (on any replica), so a console's banner rings within a second of the escalation.

An escalation's ``at`` is its transaction's clock reading, taken before the commit, so one may
become visible after a later-stamped one: every read reaches back ``OVERLAP`` before the newest
sent, and ids already sent on this stream are skipped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_common import serde
from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.escalations import Escalation, EscalationKind
from qzx_common.web.pagination import encode_time_cursor
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.tasks.models import TaskEvent

CHANNEL = f"{SCHEMA}_escalations"
# The listener is keyed; every stream waits on this one key and filters by its own jurisdiction.
KEY = "escalations"
NOTIFY = text("SELECT pg_notify(:channel, :payload)")
OVERLAP = timedelta(seconds=60)  # longer than any transaction that raises an escalation
KEEPALIVE_S = 15.0
READ_LIMIT = 200
KINDS = [k.value for k in EscalationKind]


async def announce(session: AsyncSession) -> None:
    """Wakes every stream once the caller's transaction commits (never if it rolls back)."""
    await session.execute(NOTIFY, {"channel": CHANNEL, "payload": f"{KEY}:0"})


def as_escalation(row: TaskEvent) -> Escalation:
    return Escalation(
        id=row.id,
        kind=EscalationKind(row.kind),
        alert_id=row.alert_id,
        task_id=row.task_id,
        unit_id=(row.detail or {}).get("unit_id"),
        priority=Priority(row.priority),
        admin_code=row.admin_code,
        reason=row.reason,
        at=row.at,
    )


def frame(row: TaskEvent) -> bytes:
    """One SSE event; its id is the resume position (``Last-Event-ID``)."""
    return (
        f"id: {encode_time_cursor(row.at, row.id)}\nevent: escalation\ndata: ".encode()
        + serde.dumps(as_escalation(row))
        + b"\n\n"
    )


async def _read(
    sessions: async_sessionmaker[AsyncSession],
    *,
    jur: str,
    floor: datetime,
    after: tuple[datetime, str] | None,
) -> list[TaskEvent]:
    q = select(TaskEvent).where(
        TaskEvent.kind.in_(KINDS),
        TaskEvent.admin_code.startswith(jur, autoescape=True),
        TaskEvent.at >= floor,
    )
    if after is not None:  # one tick raises many with one stamp: page on by (at, id)
        q = q.where(tuple_(TaskEvent.at, TaskEvent.id) > tuple_(*after))
    q = q.order_by(TaskEvent.at, TaskEvent.id).limit(READ_LIMIT)
    async with sessions() as s:
        return list((await s.scalars(q)).all())


async def events(
    sessions: async_sessionmaker[AsyncSession],
    notifier: UnitNotifier,
    *,
    jur: str,
    floor: datetime,
) -> AsyncIterator[bytes]:
    """Escalations under ``jur`` stamped ``floor`` or later, oldest first, then each new one, until
    the process drains (the client reconnects with ``Last-Event-ID``)."""
    sent: dict[str, datetime] = {}
    yield b"retry: 3000\n: escalations\n\n"
    with notifier.subscription(KEY) as woken:
        while not notifier.draining:
            woken.clear()  # before the read: a commit during it wakes the next wait at once
            after: tuple[datetime, str] | None = None
            while True:
                page = await _read(sessions, jur=jur, floor=floor, after=after)
                for row in page:
                    if row.id not in sent:
                        sent[row.id] = row.at
                        yield frame(row)
                if len(page) < READ_LIMIT:
                    break
                after = (page[-1].at, page[-1].id)
            if sent:
                floor = max(floor, max(sent.values()) - OVERLAP)
                sent = {k: at for k, at in sent.items() if at >= floor}
            try:
                await asyncio.wait_for(woken.wait(), KEEPALIVE_S)
            except TimeoutError:
                yield b": keep-alive\n\n"
