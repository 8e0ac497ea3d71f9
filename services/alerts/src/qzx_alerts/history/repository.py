"""Set-based reads and writes of alerts' event history: one statement per batch, never one per event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

import asyncpg
import orjson

from qzx_alerts.db import SCHEMA, ScratchTable, scratch_type, stage
from qzx_alerts.history.models import SightingRow
from qzx_alerts.scoring.correlation import Learned, Pair, Seen
from qzx_alerts.scoring.domain import Sighting

# The batch's sightings, staged once (db.stage) and read by every statement below; after
# ``insert_new`` it holds only the new ones (redeliveries need no lookups).
# Every column of ``sightings`` is staged: the ``Sighting`` attributes of the same names, and the
# measurements (last) as JSON text.
_PLAIN = tuple(c.name for c in SightingRow.__table__.c if c.name != "measurements")
STAGED = ScratchTable("batch_sightings", SightingRow.__table__, (*_PLAIN, "measurements"))
BATCH = STAGED.name
_plain_values = attrgetter(*_PLAIN)

_INSERT = f"""
INSERT INTO {SCHEMA}.sightings ({", ".join(STAGED.columns)})
SELECT {", ".join(map(STAGED.read_back, STAGED.columns))}
FROM {BATCH} ORDER BY n
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

SAME_PLATE_LIMIT = 50  # a plate's sightings near one (latest first)
SAME_SEGMENT_LIMIT = 100  # racing-class sightings on a segment near one (earliest first)

# A stored sighting found near a new one: the ``Seen`` fields, read straight into one.
SEEN_FIELDS = tuple(Seen.__dataclass_fields__)
_SEEN_COLUMNS = ", ".join(f"s.{f}" for f in SEEN_FIELDS)
_NO_SEEN = ", ".join(f"NULL::{scratch_type(SightingRow.__table__.c[f])}" for f in SEEN_FIELDS)

# The three history lookups of a batch, in one round trip: rows of (what, for_event, count, seen).
# 'c': each new plated sighting's earlier violations within $1 days (an index range count each);
# 'p': other sightings of its plate within ±$2 s (cloned plates, travel times), latest first;
# 'g': racing-class sightings on its segment within ±$3 s, itself included, earliest first.
_HISTORY = f"""
SELECT 'c', i.event_id, (SELECT count(*) FROM {SCHEMA}.sightings s
                         WHERE s.plate = i.plate AND s.captured_at >= i.captured_at - make_interval(days => $1)
                           AND s.captured_at < i.captured_at), {_NO_SEEN}
FROM {BATCH} i WHERE i.plate IS NOT NULL
UNION ALL
SELECT 'p', i.event_id, NULL, {_SEEN_COLUMNS}
FROM {BATCH} i
CROSS JOIN LATERAL (
    SELECT * FROM {SCHEMA}.sightings s
    WHERE s.plate = i.plate
      AND s.captured_at BETWEEN i.captured_at - make_interval(secs => $2) AND i.captured_at + make_interval(secs => $2)
      AND s.event_id <> i.event_id
    ORDER BY s.captured_at DESC LIMIT {SAME_PLATE_LIMIT}
) s
WHERE i.plate IS NOT NULL
UNION ALL
SELECT 'g', i.event_id, NULL, {_SEEN_COLUMNS}
FROM {BATCH} i
CROSS JOIN LATERAL (
    SELECT * FROM {SCHEMA}.sightings s
    WHERE s.group_key = i.group_key
      AND s.captured_at BETWEEN i.captured_at - make_interval(secs => $3) AND i.captured_at + make_interval(secs => $3)
    ORDER BY s.captured_at LIMIT {SAME_SEGMENT_LIMIT}
) s
WHERE i.group_key IS NOT NULL
"""

_TRAVEL = f"""
SELECT t.device_a, t.device_b, t.min_s, t.samples FROM {SCHEMA}.device_travel t
JOIN unnest($1::text[], $2::text[]) AS i(a, b) ON t.device_a = i.a AND t.device_b = i.b
"""

_LEARN = f"""
INSERT INTO {SCHEMA}.device_travel AS t (device_a, device_b, min_s, samples)
SELECT a, b, min(s), count(*) FROM unnest($1::text[], $2::text[], $3::float8[]) AS u(a, b, s) GROUP BY a, b
ON CONFLICT (device_a, device_b) DO UPDATE
SET min_s = LEAST(t.min_s, EXCLUDED.min_s), samples = t.samples + EXCLUDED.samples
"""


async def insert_new(raw: asyncpg.Connection, sightings: Sequence[Sighting]) -> set[str]:
    """Store the sightings not stored yet; returns the event ids that were new (the rest are
    redeliveries and must change nothing). Leaves the new ones staged for the lookups below."""
    if not sightings:
        return set()
    await stage(
        raw,
        STAGED,
        (
            (n, *_plain_values(s), orjson.dumps(s.measurements).decode() if s.measurements else None)
            for n, s in enumerate(sightings)
        ),
    )
    new = {r[0] for r in await raw.fetch(_INSERT)}
    if len(new) < len(sightings):
        await raw.execute(f"DELETE FROM {BATCH} WHERE event_id <> ALL($1::text[])", list(new))
    return new


@dataclass(slots=True)
class History:
    """What the stored sightings say about each new one (by event id)."""

    prior_counts: dict[str, int] = field(default_factory=dict)
    same_plate: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))
    same_segment: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))


async def look_back(raw: asyncpg.Connection, *, window_days: int, clone_s: int, racing_s: int) -> History:
    """The staged batch's history (``_HISTORY``): repeat-offender counts, the plate's sightings
    near each one and the racing-class sightings on its segment."""
    found = History()
    for r in await raw.fetch(_HISTORY, window_days, float(clone_s), float(racing_s)):
        if r[0] == "c":
            found.prior_counts[r[1]] = r[2]
        else:
            (found.same_plate if r[0] == "p" else found.same_segment)[r[1]].append(Seen(*r[3:]))
    return found


async def learned_travel(raw: asyncpg.Connection, pairs: set[Pair]) -> dict[Pair, Learned]:
    if not pairs:
        return {}
    ordered = sorted(pairs)
    rows = await raw.fetch(_TRAVEL, [a for a, _ in ordered], [b for _, b in ordered])
    return {(r["device_a"], r["device_b"]): (r["min_s"], r["samples"]) for r in rows}


async def learn_passages(raw: asyncpg.Connection, passages: Sequence[tuple[Pair, float]]) -> None:
    if passages:
        await raw.execute(
            _LEARN, [p[0] for p, _ in passages], [p[1] for p, _ in passages], [s for _, s in passages]
        )
