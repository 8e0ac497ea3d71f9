"""Report figures, computed in SQL over alerts' own tables (sightings for events, alerts for the loop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from qzx_alerts.db import SCHEMA

# Local wall-clock time of a timestamptz, for a fixed offset in seconds ($4).
_LOCAL = "((captured_at AT TIME ZONE 'UTC') + make_interval(secs => $4))"
_IN = "captured_at >= $1 AND captured_at < $2 AND admin_code LIKE $3 || '%'"


async def event_counts(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, offset_s: int
) -> dict[str, Any]:
    rows = await raw.fetch(
        f"""
        SELECT 'violation' AS dim, violation AS k, count(*) AS n FROM {SCHEMA}.sightings WHERE {_IN}
        GROUP BY violation
        UNION ALL
        SELECT 'hour', extract(hour FROM {_LOCAL})::int::text, count(*) FROM {SCHEMA}.sightings WHERE {_IN}
        GROUP BY 2
        UNION ALL
        SELECT 'day', to_char({_LOCAL}, 'YYYY-MM-DD'), count(*) FROM {SCHEMA}.sightings WHERE {_IN} GROUP BY 2
        UNION ALL
        SELECT 'city', left(admin_code, 4) || '00', count(*) FROM {SCHEMA}.sightings WHERE {_IN}
        GROUP BY 2
        """,
        start,
        end,
        prefix,
        float(offset_s),
    )
    out: dict[str, dict[str, int]] = {"violation": {}, "hour": {}, "day": {}, "city": {}}
    for r in rows:
        out[r["dim"]][r["k"]] = r["n"]
    return out


async def hotspots(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, limit: int
) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        f"""
        SELECT device_id, min(admin_code) AS admin_code, avg(lat) AS lat, avg(lon) AS lon, count(*) AS count,
               mode() WITHIN GROUP (ORDER BY violation) AS top_violation
        FROM {SCHEMA}.sightings WHERE {_IN}
        GROUP BY device_id ORDER BY count(*) DESC, device_id LIMIT $4
        """,
        start,
        end,
        prefix,
        limit,
    )
    return [dict(r) for r in rows]


async def repeat_offenders(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, limit: int
) -> list[dict[str, Any]]:
    rows = await raw.fetch(
        f"""
        SELECT plate, count(*) AS count, array_agg(DISTINCT violation ORDER BY violation) AS violations,
               max(captured_at) AS last_seen
        FROM {SCHEMA}.sightings WHERE {_IN} AND plate IS NOT NULL
        GROUP BY plate HAVING count(*) >= 2 ORDER BY count(*) DESC, plate LIMIT $4
        """,
        start,
        end,
        prefix,
        limit,
    )
    return [dict(r) | {"violations": list(r["violations"])} for r in rows]


async def alert_figures(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str
) -> dict[str, Any]:
    """The command loop for alerts raised in the period (first seen inside it)."""
    row = await raw.fetchrow(
        f"""
        SELECT count(*) AS raised,
               count(*) FILTER (WHERE dispatched_at IS NOT NULL) AS dispatched,
               count(*) FILTER (WHERE signed_at IS NOT NULL) AS signed,
               count(*) FILTER (WHERE status = 'resolved' AND outcome IS NOT NULL) AS feedback,
               count(*) FILTER (WHERE status = 'resolved') AS resolved,
               count(*) FILTER (WHERE status = 'dismissed') AS dismissed,
               count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM signed_at - dispatched_at))
                   AS sign_median,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM signed_at - dispatched_at))
                   AS sign_p90,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - first_seen))
                   AS resolve_median,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - first_seen))
                   AS resolve_p90
        FROM {SCHEMA}.alerts WHERE first_seen >= $1 AND first_seen < $2 AND admin_code LIKE $3 || '%'
        """,
        start,
        end,
        prefix,
    )
    by = await raw.fetch(
        f"""
        SELECT 'priority' AS dim, priority AS k, count(*) AS n FROM {SCHEMA}.alerts
        WHERE first_seen >= $1 AND first_seen < $2 AND admin_code LIKE $3 || '%' GROUP BY priority
        UNION ALL
        SELECT 'kind', kind, count(*) FROM {SCHEMA}.alerts
        WHERE first_seen >= $1 AND first_seen < $2 AND admin_code LIKE $3 || '%' GROUP BY kind
        UNION ALL
        SELECT 'outcome', outcome, count(*) FROM {SCHEMA}.alerts
        WHERE first_seen >= $1 AND first_seen < $2 AND admin_code LIKE $3 || '%' AND outcome IS NOT NULL
        GROUP BY outcome
        """,
        start,
        end,
        prefix,
    )
    breakdown: dict[str, dict[str, int]] = {"priority": {}, "kind": {}, "outcome": {}}
    for r in by:
        breakdown[r["dim"]][r["k"]] = r["n"]
    return dict(row) | {"by": breakdown}
