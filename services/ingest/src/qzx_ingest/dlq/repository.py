from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_common.kafka.outbox import driver_connection
from qzx_ingest.db import SCHEMA
from qzx_ingest.dlq.models import DeadLetterRow

if TYPE_CHECKING:
    from qzx_ingest.violations.service import RawMessage

_INSERT = f"""
INSERT INTO {SCHEMA}.dead_letters (source, source_partition, source_offset, key, raw, error)
SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::text[])
ON CONFLICT (source, source_partition, source_offset) DO NOTHING
RETURNING source_partition, source_offset
"""


async def insert(
    conn: AsyncConnection, rejects: Sequence[tuple[RawMessage, str]], *, source: str
) -> list[tuple[RawMessage, str]]:
    """Store rejects once per (source, partition, offset); returns those stored just now."""
    raw = await driver_connection(conn)
    rows = await raw.fetch(
        _INSERT,
        [m.topic or source for m, _ in rejects],
        [m.partition for m, _ in rejects],
        [m.offset for m, _ in rejects],
        [m.key for m, _ in rejects],
        [m.value or b"" for m, _ in rejects],
        [e for _, e in rejects],
    )
    stored = {(r["source_partition"], r["source_offset"]) for r in rows}
    return [(m, e) for m, e in rejects if (m.partition, m.offset) in stored or m.offset is None]


async def search(session: AsyncSession, *, after_id: int | None, limit: int) -> list[DeadLetterRow]:
    q = select(DeadLetterRow).order_by(DeadLetterRow.id.desc()).limit(limit)
    if after_id is not None:
        q = q.where(DeadLetterRow.id < after_id)
    return list((await session.scalars(q)).all())
