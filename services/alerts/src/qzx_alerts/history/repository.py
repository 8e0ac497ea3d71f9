"""Set-based reads and writes of alerts' event history: one statement per batch, never one per event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson

from qzx_alerts.db import SCHEMA
from qzx_alerts.scoring.correlation import Learned, Pair, Seen
from qzx_alerts.scoring.model import Sighting

_INSERT = f"""
INSERT INTO {SCHEMA}.sightings
    (event_id, plate, violation, device_id, lat, lon, admin_code, captured_at, group_key, vehicle_class,
     measurements)
SELECT e, p, v, d, la, lo, a, t, g, c, m::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[],
            $8::timestamptz[], $9::text[], $10::text[], $11::text[]) AS u(e, p, v, d, la, lo, a, t, g, c, m)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

_PRIOR_COUNTS = f"""
SELECT i.e, (SELECT count(*) FROM {SCHEMA}.sightings s
             WHERE s.plate = i.p AND s.captured_at >= i.t - make_interval(days => $4) AND s.captured_at < i.t)
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS i(e, p, t)
"""

_SEEN_COLUMNS = "s.event_id, s.plate, s.violation, s.device_id, s.lat, s.lon, s.admin_code, s.captured_at"

_SAME_PLATE = f"""
SELECT i.e AS for_event, {_SEEN_COLUMNS}
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS i(e, p, t)
CROSS JOIN LATERAL (
    SELECT * FROM {SCHEMA}.sightings s
    WHERE s.plate = i.p AND s.captured_at BETWEEN i.t - make_interval(secs => $4) AND i.t + make_interval(secs => $4)
      AND s.event_id <> i.e
    ORDER BY s.captured_at DESC LIMIT 50
) s
"""

_SAME_SEGMENT = f"""
SELECT i.e AS for_event, {_SEEN_COLUMNS}
FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS i(e, g, t)
CROSS JOIN LATERAL (
    SELECT * FROM {SCHEMA}.sightings s
    WHERE s.group_key = i.g AND s.captured_at BETWEEN i.t - make_interval(secs => $4) AND i.t + make_interval(secs => $4)
    ORDER BY s.captured_at LIMIT 100
) s
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


async def insert_new(raw: Any, sightings: Sequence[Sighting]) -> set[str]:
    """Store the sightings not stored yet; returns the event ids that were new (the rest are
    redeliveries and must change nothing)."""
    if not sightings:
        return set()
    rows = await raw.fetch(
        _INSERT,
        [s.event_id for s in sightings],
        [s.plate for s in sightings],
        [s.violation for s in sightings],
        [s.device_id for s in sightings],
        [s.lat for s in sightings],
        [s.lon for s in sightings],
        [s.admin_code for s in sightings],
        [s.captured_at for s in sightings],
        [s.group_key for s in sightings],
        [s.vehicle_class for s in sightings],
        [orjson.dumps(s.measurements).decode() if s.measurements else None for s in sightings],
    )
    return {r["event_id"] for r in rows}


async def prior_counts(raw: Any, sightings: Sequence[Sighting], *, window_days: int) -> dict[str, int]:
    """Each plated sighting's earlier violations within the window (index range count per event)."""
    plated = [s for s in sightings if s.plate]
    if not plated:
        return {}
    rows = await raw.fetch(
        _PRIOR_COUNTS,
        [s.event_id for s in plated],
        [s.plate for s in plated],
        [s.captured_at for s in plated],
        window_days,
    )
    return {r[0]: r[1] for r in rows}


def _seen(row: Any) -> Seen:
    """A row of ``for_event, {_SEEN_COLUMNS}`` as the sighting it names."""
    return Seen(*row[1:])


async def same_plate_nearby(
    raw: Any, sightings: Sequence[Sighting], *, window_s: int
) -> dict[str, list[Seen]]:
    """Other sightings of each event's plate within ±window (for cloned plates and travel times)."""
    plated = [s for s in sightings if s.plate]
    if not plated:
        return {}
    rows = await raw.fetch(
        _SAME_PLATE,
        [s.event_id for s in plated],
        [s.plate for s in plated],
        [s.captured_at for s in plated],
        float(window_s),
    )
    found: dict[str, list[Seen]] = defaultdict(list)
    for r in rows:
        found[r["for_event"]].append(_seen(r))
    return found


async def same_segment_nearby(
    raw: Any, sightings: Sequence[Sighting], *, window_s: int
) -> dict[str, list[Seen]]:
    """Racing-class sightings on each event's segment within ±window, the event itself included."""
    keyed = [s for s in sightings if s.group_key]
    if not keyed:
        return {}
    rows = await raw.fetch(
        _SAME_SEGMENT,
        [s.event_id for s in keyed],
        [s.group_key for s in keyed],
        [s.captured_at for s in keyed],
        float(window_s),
    )
    found: dict[str, list[Seen]] = defaultdict(list)
    for r in rows:
        found[r["for_event"]].append(_seen(r))
    return found


async def learned_travel(raw: Any, pairs: set[Pair]) -> dict[Pair, Learned]:
    if not pairs:
        return {}
    ordered = sorted(pairs)
    rows = await raw.fetch(_TRAVEL, [a for a, _ in ordered], [b for _, b in ordered])
    return {(r["device_a"], r["device_b"]): (r["min_s"], r["samples"]) for r in rows}


async def learn_passages(raw: Any, passages: Sequence[tuple[Pair, float]]) -> None:
    if passages:
        await raw.execute(
            _LEARN, [p[0] for p, _ in passages], [p[1] for p, _ in passages], [s for _, s in passages]
        )
