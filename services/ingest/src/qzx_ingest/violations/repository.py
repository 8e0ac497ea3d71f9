"""Bulk, idempotent writes and keyset reads of ``ingest.violations``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_common.contracts.events import Location
from qzx_common.db import before_key, driver_connection
from qzx_common.kafka.outbox import next_id_sql
from qzx_ingest.db import SCHEMA
from qzx_ingest.violations.models import ViolationRow

# The columns a batch writes (all but the database's own timestamp): each event's fields, read from
# its normalised JSON (the location's under "location") and cast to the column's type, then the
# batch's source and the JSON itself.
_BATCH_VALUES = {"source": "$3", "payload": "p"}
STORED_COLUMNS = tuple(c.name for c in ViolationRow.__table__.c if c.server_default is None)
_CASTS = {DateTime: "timestamptz", Float: "float8"}


def _from_json(column: str) -> str:
    if column in _BATCH_VALUES:
        return _BATCH_VALUES[column]
    path = f"p->'location'->>'{column}'" if column in Location.model_fields else f"p->>'{column}'"
    cast = next(
        (pg for kind, pg in _CASTS.items() if isinstance(ViolationRow.__table__.c[column].type, kind)), None
    )
    return f"({path})::{cast}" if cast else path


# One round trip per batch: store the new events (the indexed columns are read from the normalised
# JSON by the server, which parses it for the jsonb column anyway) and queue each new one, byte for
# byte, in the outbox. Returns the batch positions that were new and their outbox ids.
_STORE = f"""
WITH batch AS MATERIALIZED (
    SELECT convert_from(doc, 'UTF8')::jsonb AS p, doc, key, ord
    FROM unnest($1::bytea[], $2::bytea[]) WITH ORDINALITY AS b(doc, key, ord)
), stored AS (
    INSERT INTO {SCHEMA}.violations ({", ".join(STORED_COLUMNS)})
    SELECT {", ".join(map(_from_json, STORED_COLUMNS))}
    FROM batch
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), fresh AS MATERIALIZED (
    SELECT {next_id_sql(SCHEMA)} AS id, b.ord, b.key, b.doc
    FROM batch b JOIN stored s ON s.event_id = b.p->>'event_id'
), queued AS (
    INSERT INTO {SCHEMA}.outbox (id, topic, key, value) SELECT id, $4, key, doc FROM fresh
)
SELECT array_agg(ord ORDER BY ord) AS positions, array_agg(id ORDER BY ord) AS ids FROM fresh
"""


async def insert_new(
    conn: AsyncConnection,
    payloads: Sequence[bytes],
    keys: Sequence[bytes],
    *,
    source: str,
    forward_to: str,
) -> tuple[list[int], list[int]]:
    """Insert the events (normalised JSON, distinct ``event_id``s) not stored yet, each new one
    queued in the outbox for ``forward_to`` with its key. Returns the 0-based positions of the new
    events and their outbox ids."""
    if not payloads:
        return [], []
    raw = await driver_connection(conn)
    row = await raw.fetchrow(_STORE, payloads, keys, source, forward_to)
    if row["positions"] is None:
        return [], []
    return [p - 1 for p in row["positions"]], list(row["ids"])


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
    if admin_code and len(admin_code) == 6:  # a whole code: equality walks its index in time order
        q = q.where(ViolationRow.admin_code == admin_code)
    elif admin_code:
        q = q.where(ViolationRow.admin_code.startswith(admin_code))
    if since:
        q = q.where(ViolationRow.captured_at >= since)
    if until:
        q = q.where(ViolationRow.captured_at < until)
    if after:
        q = q.where(before_key((ViolationRow.captured_at, ViolationRow.event_id), after))
    q = q.order_by(ViolationRow.captured_at.desc(), ViolationRow.event_id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
