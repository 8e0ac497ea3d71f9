"""violations.accepted.v1 → violations counted per cell and UTC day (``violation_cells``), the
violation layer of black-spot analysis: a year of a province is millions of events, its cells a
few hundred thousand rows. Its own consumer group, off the scoring path. Each partition's next
offset is stored with the counts in one transaction, so a redelivered batch is not counted twice;
a dead letter replayed onto the topic (`qzx dlq replay`) is not counted at all (``is_replay``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime

import orjson
from aiokafka import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.blackspots.analysis import cell_of
from qzx_alerts.db import SCHEMA
from qzx_common.kafka.runner import RecordsRejected
from qzx_common.topics import ALERTS_BLACKSPOTS_GROUP, HEADER_REPLAY_OF

GROUP = ALERTS_BLACKSPOTS_GROUP
CellKey = tuple[date, int, int]


def _cell_of(value: bytes | None) -> tuple[CellKey, str]:
    event = orjson.loads(value or b"")
    where = event["location"]
    lat_q, lon_q = cell_of(float(where["lat"]), float(where["lon"]))
    return (datetime.fromisoformat(event["captured_at"]).date(), lat_q, lon_q), str(where["admin_code"])


def is_replay(record: ConsumerRecord) -> bool:
    """A dead letter `qzx dlq replay` sent back (it carries ``qzx-replay-of``). Its event was
    counted already when it first passed: another consumer of the topic dead-lettered it, not
    this one, whose only rejection is a value that is no accepted event, and the replay sends
    those same bytes again. So replays are skipped here, whichever consumer's letter they are
    and however often they are replayed (``--force``)."""
    return any(name == HEADER_REPLAY_OF for name, _ in record.headers or ())


def cells_of(records: Sequence[ConsumerRecord]) -> dict[int, tuple[CellKey, str]]:
    """Each record's cell and admin code by its index, replays left out (never counted);
    ``RecordsRejected`` names what is no accepted event (ingest checked every one: such a value
    comes from elsewhere)."""
    found, rejected = {}, {}
    for i, record in enumerate(records):
        if is_replay(record):
            continue
        try:
            found[i] = _cell_of(record.value)
        except (ValueError, KeyError, TypeError) as exc:
            rejected[i] = f"not an accepted violation event: {type(exc).__name__}: {exc}"
    if rejected:
        raise RecordsRejected(rejected)
    return found


async def _unseen(conn: AsyncConnection, records: Sequence[ConsumerRecord]) -> set[int]:
    """The records past each partition's stored offset (locked until the commit)."""
    partitions = sorted({(r.topic, r.partition) for r in records})
    rows = await conn.execute(
        text(
            f"SELECT topic, partition, next_offset FROM {SCHEMA}.violation_cell_offsets "
            "WHERE (topic, partition) IN (SELECT unnest(CAST(:topics AS text[])), unnest(CAST(:parts AS int[]))) "
            "FOR UPDATE"
        ),
        {"topics": [t for t, _ in partitions], "parts": [p for _, p in partitions]},
    )
    done = {(t, p): o for t, p, o in rows}
    return {i for i, r in enumerate(records) if r.offset >= done.get((r.topic, r.partition), 0)}


async def apply(conn: AsyncConnection, records: Sequence[ConsumerRecord]) -> int:
    """Count the batch into the cells; how many events were counted (0 for a redelivery)."""
    found = cells_of(records)
    fresh = await _unseen(conn, records)
    counts: Counter[CellKey] = Counter()
    codes: dict[CellKey, str] = {}
    for key, admin_code in (found[i] for i in sorted(fresh & found.keys())):
        counts[key] += 1
        codes.setdefault(key, admin_code)  # a cell on a county line is counted in the first seen
    if counts:
        await conn.execute(
            text(
                f"INSERT INTO {SCHEMA}.violation_cells (day, lat_q, lon_q, admin_code, violations) "
                "SELECT * FROM unnest(CAST(:days AS date[]), CAST(:lats AS int[]), CAST(:lons AS int[]), "
                "CAST(:codes AS text[]), CAST(:ns AS int[])) "
                "ON CONFLICT (day, lat_q, lon_q) DO UPDATE "
                "SET violations = violation_cells.violations + EXCLUDED.violations"
            ),
            {
                "days": [k[0] for k in counts],
                "lats": [k[1] for k in counts],
                "lons": [k[2] for k in counts],
                "codes": [codes[k] for k in counts],
                "ns": list(counts.values()),
            },
        )
    nexts: dict[tuple[str, int], int] = {}
    for r in records:
        nexts[(r.topic, r.partition)] = max(nexts.get((r.topic, r.partition), 0), r.offset + 1)
    await conn.execute(
        text(
            f"INSERT INTO {SCHEMA}.violation_cell_offsets (topic, partition, next_offset) "
            "SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:parts AS int[]), CAST(:offs AS bigint[])) "
            "ON CONFLICT (topic, partition) DO UPDATE "
            "SET next_offset = greatest(violation_cell_offsets.next_offset, EXCLUDED.next_offset)"
        ),
        {"topics": [k[0] for k in nexts], "parts": [k[1] for k in nexts], "offs": list(nexts.values())},
    )
    return sum(counts.values())
