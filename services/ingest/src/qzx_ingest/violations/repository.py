"""Bulk, idempotent writes and keyset reads of ``ingest.violations``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_common.contracts.events import ViolationEvent
from qzx_common.kafka.outbox import driver_connection
from qzx_ingest.db import SCHEMA
from qzx_ingest.violations.models import ViolationRow

_INSERT = f"""
INSERT INTO {SCHEMA}.violations
    (event_id, device_id, violation, plate, admin_code, captured_at, lat, lon, source, payload)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                     $7::float8[], $8::float8[], $9::text[], $10::jsonb[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


async def insert_new(
    conn: AsyncConnection, events: Sequence[tuple[ViolationEvent, bytes]], *, source: str
) -> set[str]:
    """Insert the events not stored yet; returns the ids that were new. ``events`` pairs each
    event with its normalised JSON (stored as the payload and forwarded as is)."""
    if not events:
        return set()
    raw = await driver_connection(conn)
    rows = await raw.fetch(
        _INSERT,
        [e.event_id for e, _ in events],
        [e.device_id for e, _ in events],
        [e.violation.value for e, _ in events],
        [e.plate for e, _ in events],
        [e.location.admin_code for e, _ in events],
        [e.captured_at for e, _ in events],
        [e.location.lat for e, _ in events],
        [e.location.lon for e, _ in events],
        [source] * len(events),
        [p.decode() for _, p in events],
    )
    return {r["event_id"] for r in rows}


def payload_of(row: ViolationRow) -> dict[str, Any]:
    return row.payload | {"received_at": row.received_at.isoformat(), "source": row.source}


async def get(session: AsyncSession, event_id: str) -> ViolationRow | None:
    return await session.get(ViolationRow, event_id)


async def search(
    session: AsyncSession,
    *,
    jur: str,
    plate: str | None,
    violation: str | None,
    admin_code: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[ViolationRow]:
    q: Select[ViolationRow] = select(ViolationRow).where(ViolationRow.admin_code.startswith(jur))
    if plate:
        q = q.where(ViolationRow.plate == plate)
    if violation:
        q = q.where(ViolationRow.violation == violation)
    if admin_code:
        q = q.where(ViolationRow.admin_code.startswith(admin_code))
    if since:
        q = q.where(ViolationRow.captured_at >= since)
    if until:
        q = q.where(ViolationRow.captured_at < until)
    if after:
        at, eid = after
        q = q.where(
            or_(
                ViolationRow.captured_at < at,
                and_(ViolationRow.captured_at == at, ViolationRow.event_id < eid),
            )
        )
    q = q.order_by(ViolationRow.captured_at.desc(), ViolationRow.event_id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
