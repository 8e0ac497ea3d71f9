"""Every task change: bump the unit's cursor, publish the Task through the outbox, wake long-polls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common import serde
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
