"""Hourly demand from the jurisdiction's alert history: alerts by hour of week and violation,
weighted by how long each takes to handle, over the units' target utilisation."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_dispatch.clock import LOCAL_TZ
from qzx_dispatch.db import SCHEMA

# Unit-hours one alert of each violation takes (travel, stop, check, paperwork); default 0.5 h.
HANDLING_HOURS = {
    "drunk_driving": 1.0,
    "overload": 1.5,
    "street_racing": 1.0,
    "fake_plate": 1.0,
    "no_plate": 0.75,
    "noise_modified": 0.75,
}
DEFAULT_HANDLING = 0.5
HOURS_PER_WEEK = 168


def hour_of_week(at: datetime) -> int:
    local = at.astimezone(LOCAL_TZ)
    return local.weekday() * 24 + local.hour


async def history(
    session: AsyncSession, *, prefix: str, until: datetime, weeks: int
) -> dict[int, dict[str, int]]:
    """Alert counts by local hour of week (Monday 00:00 = 0) and violation."""
    rows = await session.execute(
        text(
            f"""
            SELECT (extract(isodow FROM local)::int - 1) * 24 + extract(hour FROM local)::int AS how,
                   coalesce(violations[1], kind) AS violation, count(*) AS n
            FROM {SCHEMA}.alerts,
                 -- UTC+8 wall time (a POSIX '+08:00' zone name would mean UTC-8)
                 LATERAL (SELECT (first_seen AT TIME ZONE 'UTC') + interval '8 hours' AS local) AS l
            WHERE admin_code LIKE :prefix AND first_seen >= :since AND first_seen < :until
            GROUP BY 1, 2
            """
        ),
        {"prefix": prefix + "%", "since": until - timedelta(weeks=weeks), "until": until},
    )
    out: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows:
        out[r.how][r.violation] = r.n
    return out


def curve(
    counts: dict[int, dict[str, int]],
    *,
    start: datetime,
    hours: int,
    weeks: int,
    utilisation: float,
    min_units: int,
    handling: dict[str, float] | None = None,
) -> list[int]:
    """Units needed in each hour of the horizon starting at ``start`` (local midnight)."""
    weights = HANDLING_HOURS | (handling or {})
    first = hour_of_week(start)
    out = []
    for h in range(hours):
        by_violation = counts.get((first + h) % HOURS_PER_WEEK, {})
        unit_hours = sum(n * weights.get(v, DEFAULT_HANDLING) for v, n in by_violation.items()) / max(
            weeks, 1
        )
        out.append(max(min_units, math.ceil(unit_hours / utilisation - 1e-9)))
    return out
