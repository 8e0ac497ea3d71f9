"""Every task change: bump the unit's cursor, publish the Task through the outbox, wake long-polls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common import serde
from qzx_common.contracts.tasks import Task
from qzx_common.kafka.outbox import enqueue
from qzx_common.kafka.publish import OutboxMessage
from qzx_common.topics import DISPATCH_TASKS
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import repository
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.schemas import to_contract

# One channel for the whole schema; the payload names the unit and its new cursor.
CHANNEL = f"{SCHEMA}_unit_tasks"


async def changed(session: AsyncSession, row: TaskRow, *, now: datetime, settings: DispatchSettings) -> None:
    row.unit_seq = await repository.next_seq(session, row.unit_id)
    row.version += 1
    row.updated_at = now
    await session.flush()
    await announce(session, row, settings=settings)


async def changed_many(
    session: AsyncSession, rows: Sequence[TaskRow], *, now: datetime, settings: DispatchSettings
) -> None:
    """``changed`` for many tasks (of distinct units), a statement per step."""
    if not rows:
        return
    seqs = await repository.next_seqs(session, [r.unit_id for r in rows])
    for row in rows:
        row.unit_seq = seqs[row.unit_id]
        row.version += 1
        row.updated_at = now
    await session.flush()
    await announce_many(session, rows, settings=settings)


_ANNOUNCE = text(
    f"WITH queued AS (INSERT INTO {SCHEMA}.outbox (topic, key, value) VALUES (:topic, :key, :value)) "
    "SELECT pg_notify(:channel, :payload)"
)


async def announce(session: AsyncSession, row: TaskRow, *, settings: DispatchSettings) -> None:
    """The outbox row (relayed to dispatch.tasks.v1 after commit) and the NOTIFY (delivered to every
    replica's listener when, and only if, the transaction commits), in one statement: this is on
    the path of every assignment."""
    await session.execute(
        _ANNOUNCE,
        {
            "topic": settings.topic(DISPATCH_TASKS),
            "key": row.id.encode(),
            "value": serde.dumps(to_contract(row)),
            "channel": CHANNEL,
            "payload": f"{row.unit_id}:{row.unit_seq}",
        },
    )


async def announce_many(
    session: AsyncSession,
    rows: Sequence[TaskRow],
    *,
    settings: DispatchSettings,
    contracts: Sequence[Task] | None = None,
) -> None:
    """``announce`` for many tasks (``contracts``: theirs, when the caller has them already): the
    outbox rows in one COPY, the NOTIFYs in one statement."""
    if not rows:
        return
    topic = settings.topic(DISPATCH_TASKS)
    tasks = contracts if contracts is not None else [to_contract(r) for r in rows]
    messages = [
        OutboxMessage(topic, serde.dumps(t), key=r.id.encode()) for r, t in zip(rows, tasks, strict=True)
    ]
    await enqueue(await session.connection(), schema=SCHEMA, messages=messages)
    await session.execute(
        text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
        {"channel": CHANNEL, "payloads": [f"{r.unit_id}:{r.unit_seq}" for r in rows]},
    )
