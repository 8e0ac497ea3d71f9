"""Bulk, idempotent writes, partition upkeep and keyset reads of ``ingest.passages``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_common.contracts.passage_reader import COLUMNS, PassageRow, passage_dict
from qzx_common.db import before_key, driver_connection
from qzx_ingest.db import SCHEMA
from qzx_ingest.passages.models import PassageRow as StoredPassage

# The day a partition holds runs midnight to midnight here (China has one zone and no DST).
PARTITION_TZ = "Asia/Shanghai"

# A batch's passages already stored (a camera's replay, a redelivery) are looked up first, and the
# rest COPYed (binary) straight into the partitioned table: about 0.9 × raw COPY against 0.7 for a
# scratch table and INSERT … ON CONFLICT (docs/benchmarks.md). Only when another writer stored some
# of them meanwhile (two consumers during a rebalance) does the batch take that slower way.
_STORED = (
    f"SELECT p.passage_id, p.captured_at FROM {SCHEMA}.passages p "
    "JOIN unnest($1::text[], $2::timestamptz[]) AS u(id, at) ON p.passage_id = u.id AND p.captured_at = u.at"
)
# The scratch table of that way, created once per connection (``create_engine(session_sql=...)``).
STAGE = "passage_stage"
_TYPES = {"captured_at": "timestamptz", "lane": "smallint", "speed_kmh": "float8", "lat": "float8"}
_TYPES |= {"lon": "float8", "km": "float8", "confidence": "float8"}
_STAGE_COLUMNS = ", ".join(f"{c} {_TYPES.get(c, 'text')}" for c in COLUMNS)
SESSION_SQL = (f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({_STAGE_COLUMNS}) ON COMMIT DELETE ROWS",)
_INSERT = (
    f"INSERT INTO {SCHEMA}.passages ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM {STAGE} "
    "ON CONFLICT DO NOTHING RETURNING passage_id, captured_at"
)

Key = tuple[str, datetime]


async def insert_new(conn: AsyncConnection, rows: Sequence[PassageRow]) -> set[Key]:
    """Store the passages not stored yet, in the caller's transaction; returns the keys
    (passage_id, captured_at) of those that were new."""
    if not rows:
        return set()
    raw = await driver_connection(conn)
    stored = {(r[0], r[1]) for r in await raw.fetch(_STORED, *_key_columns(rows))}
    new = [r for r in rows if (r.passage_id, r.captured_at) not in stored]
    if not new:
        return set()
    try:
        async with raw.transaction():  # a savepoint: a conflict leaves the rest of the transaction
            await raw.copy_records_to_table("passages", schema_name=SCHEMA, records=new, columns=COLUMNS)
    except asyncpg.UniqueViolationError:
        return await _insert_skipping_stored(raw, new)
    return {(r.passage_id, r.captured_at) for r in new}


def _key_columns(rows: Sequence[PassageRow]) -> tuple[list[str], list[datetime]]:
    return [r.passage_id for r in rows], [r.captured_at for r in rows]


async def _insert_skipping_stored(raw: asyncpg.Connection, rows: Sequence[PassageRow]) -> set[Key]:
    """Through the scratch table with ON CONFLICT: what a concurrent writer stored is skipped."""
    await raw.copy_records_to_table(STAGE, records=rows, columns=COLUMNS)
    new = await raw.fetch(_INSERT)
    await raw.execute(f"TRUNCATE {STAGE}")  # a second batch in the same transaction starts empty
    return {(r[0], r[1]) for r in new}


async def keep_partitions(conn: AsyncConnection, *, first_day: date, last_day: date) -> tuple[int, int]:
    """Partitions for every day from ``first_day`` to ``last_day``, none before: (created, dropped)."""
    row = (
        await conn.execute(
            text(f"SELECT created, dropped FROM {SCHEMA}.passage_partitions_keep(:first, :last, :tz)"),
            {"first": first_day, "last": last_day, "tz": PARTITION_TZ},
        )
    ).one()
    return row.created, row.dropped


async def add_partitions(conn: AsyncConnection, days: Sequence[date]) -> int:
    """Create the partitions of ``days`` that are missing, dropping none; returns how many were made."""
    return int(
        await conn.scalar(
            text(f"SELECT {SCHEMA}.passage_partitions_add(:days, :tz)"),
            {"days": list(days), "tz": PARTITION_TZ},
        )
    )


async def partition_days(conn: AsyncConnection) -> list[date]:
    """The days that have a partition, oldest first."""
    names = await conn.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            f"WHERE i.inhparent = '{SCHEMA}.passages'::regclass ORDER BY 1"
        )
    )
    return [datetime.strptime(n.removeprefix("passages_p"), "%Y%m%d").date() for n in names]


def payload_of(row: StoredPassage) -> dict[str, Any]:
    """The stored passage as the contract spells it (nulls left out), with ``received_at``."""
    out = passage_dict(PassageRow(*(getattr(row, c) for c in COLUMNS)))
    out["captured_at"] = row.captured_at.isoformat()
    out["received_at"] = row.received_at.isoformat()
    return out


async def search(
    session: AsyncSession,
    *,
    jur: str,
    plate: str | None,
    device_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[StoredPassage]:
    """Newest first. A plate's or a device's passages walk its (…, captured_at) index, and the time
    bounds (also on the partition key) leave out the days outside them."""
    P = StoredPassage
    q: Select[Any] = select(P).where(P.admin_code.startswith(jur))
    if plate is not None:
        q = q.where(P.plate == plate)
    if device_id is not None:
        q = q.where(P.device_id == device_id)
    if since:
        q = q.where(P.captured_at >= since)
    if until:
        q = q.where(P.captured_at < until)
    if after:
        q = q.where(P.captured_at <= after[0])  # bounds the index scan; the row comparison breaks ties
        q = q.where(before_key((P.captured_at, P.passage_id), after))
    q = q.order_by(P.captured_at.desc(), P.passage_id.desc()).limit(limit)
    return list((await session.scalars(q)).all())


# Plates that passed the devices the target passed within ``window`` of it, counting the target's
# passages each accompanied. Each side walks the (device_id, captured_at) index; the bounds on
# captured_at also leave out the days outside them.
_COMPANIONS = f"""
WITH target AS MATERIALIZED (
    SELECT device_id, captured_at FROM {SCHEMA}.passages
    WHERE plate = $1 AND captured_at >= $2 AND captured_at < $3 AND admin_code LIKE $4
)
SELECT p.plate, count(DISTINCT (t.device_id, t.captured_at)) AS times,
       count(DISTINCT p.device_id) AS devices, min(p.captured_at) AS first_seen,
       max(p.captured_at) AS last_seen
FROM target t
JOIN {SCHEMA}.passages p ON p.device_id = t.device_id
    AND p.captured_at BETWEEN t.captured_at - $5::interval AND t.captured_at + $5::interval
WHERE p.plate IS NOT NULL AND p.plate <> $1 AND p.admin_code LIKE $4
  AND p.captured_at >= $2::timestamptz - $5::interval AND p.captured_at < $3::timestamptz + $5::interval
GROUP BY p.plate
HAVING count(DISTINCT (t.device_id, t.captured_at)) >= $6
ORDER BY times DESC, devices DESC, p.plate
LIMIT $7
"""


async def companions(
    conn: AsyncConnection,
    *,
    jur: str,
    plate: str,
    since: datetime,
    until: datetime,
    window: timedelta,
    min_count: int,
    limit: int,
) -> list[Any]:
    """Plates seen within ``window`` of ``plate`` at the same devices at least ``min_count`` times,
    most often first (inside ``jur`` only, on both sides)."""
    raw = await driver_connection(conn)
    return list(await raw.fetch(_COMPANIONS, plate, since, until, jur + "%", window, min_count, limit))
