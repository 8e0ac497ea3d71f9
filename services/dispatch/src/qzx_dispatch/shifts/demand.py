"""Hourly demand from the jurisdiction's history, in two layers over the units' target utilisation:

- violation load: alerts by hour of week and violation, weighted by how long each takes to handle;
- accident risk: accidents by hour of week, weighted by severity (unit-hours of presence each asks
  for at that hour), rural accidents in the rural commute peaks (workers' and farmers' early and
  evening travel) weighted up, and road-market accidents on market days placed on the horizon's
  market days (by hour of day, averaged over the market days in the history) rather than the week.

units(h) = max(min_units, ceil((w_v · violation_load(h) + w_a · accident_risk(h)) / utilisation)),
the weights and the accident parameters in DispatchSettings (docs/settings.md)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

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


def violation_load(
    counts: dict[int, dict[str, int]],
    *,
    start: datetime,
    hours: int,
    weeks: int,
    handling: dict[str, float] | None = None,
) -> list[float]:
    """Unit-hours the violations ask for in each hour of the horizon starting at ``start``."""
    weights = HANDLING_HOURS | (handling or {})
    first = hour_of_week(start)
    out = []
    for h in range(hours):
        by_violation = counts.get((first + h) % HOURS_PER_WEEK, {})
        out.append(sum(n * weights.get(v, DEFAULT_HANDLING) for v, n in by_violation.items()) / max(weeks, 1))
    return out


def units_needed(layers: Sequence[Sequence[float]], *, utilisation: float, min_units: int) -> list[int]:
    return [max(min_units, math.ceil(sum(hour) / utilisation - 1e-9)) for hour in zip(*layers, strict=True)]


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
    """Units needed in each hour for the violation load alone (local midnight ``start``)."""
    load = violation_load(counts, start=start, hours=hours, weeks=weeks, handling=handling)
    return units_needed([load], utilisation=utilisation, min_units=min_units)


@dataclass(frozen=True)
class AccidentWeights:
    """How accidents turn into unit-hours (from DispatchSettings)."""

    unit_hours: dict[str, float]  # by severity
    rural_peak_hours: frozenset[int]
    rural_peak_factor: float
    market_days: frozenset[int]  # days of the month
    default_unit_hours: float = 0.5


@dataclass
class AccidentHistory:
    """Accidents by local hour of week (Monday 00:00 = 0), and road-market accidents on market days
    by hour of day, each keyed by (severity, rural) with a count."""

    weekly: dict[int, dict[tuple[str, bool], int]] = field(default_factory=lambda: defaultdict(dict))
    market: dict[int, dict[tuple[str, bool], int]] = field(default_factory=lambda: defaultdict(dict))
    weeks: int = 1
    market_days: int = 0  # market days the history window holds


def market_days_between(first: date, after: date, days_of_month: frozenset[int]) -> int:
    return sum(1 for n in range((after - first).days) if (first + timedelta(days=n)).day in days_of_month)


async def accident_history(
    session: AsyncSession, *, prefix: str, until: datetime, weeks: int, market_days: frozenset[int]
) -> AccidentHistory:
    since = until - timedelta(weeks=weeks)
    rows = await session.execute(
        text(
            f"""
            SELECT (extract(isodow FROM local)::int - 1) * 24 + extract(hour FROM local)::int AS how,
                   extract(hour FROM local)::int AS hour,
                   road_feature = 'road_market' AND extract(day FROM local)::int = ANY(CAST(:market_days AS int[])) AS market,
                   severity, rural, count(*) AS n
            FROM {SCHEMA}.accident_facts,
                 LATERAL (SELECT (occurred_at AT TIME ZONE 'UTC') + interval '8 hours' AS local) AS l
            WHERE admin_code LIKE :prefix AND occurred_at >= :since AND occurred_at < :until
            GROUP BY 1, 2, 3, 4, 5
            """
        ),
        {"prefix": prefix + "%", "since": since, "until": until, "market_days": sorted(market_days)},
    )
    out = AccidentHistory(
        weeks=weeks,
        market_days=market_days_between(
            since.astimezone(LOCAL_TZ).date(), until.astimezone(LOCAL_TZ).date(), market_days
        ),
    )
    for r in rows:
        key = (r.severity, r.rural)
        if r.market:
            out.market[r.hour][key] = out.market[r.hour].get(key, 0) + r.n
        else:
            out.weekly[r.how][key] = out.weekly[r.how].get(key, 0) + r.n
    return out


def _unit_hours(by_kind: dict[tuple[str, bool], int], hour_of_day: int, w: AccidentWeights) -> float:
    total = 0.0
    for (severity, rural), n in by_kind.items():
        peak = w.rural_peak_factor if rural and hour_of_day in w.rural_peak_hours else 1.0
        total += n * w.unit_hours.get(severity, w.default_unit_hours) * peak
    return total


def accident_risk(
    history: AccidentHistory, *, start: datetime, hours: int, weights: AccidentWeights
) -> list[float]:
    """Unit-hours the accident risk asks for in each hour of the horizon starting at ``start``."""
    first = hour_of_week(start)
    out = []
    for h in range(hours):
        at = start + timedelta(hours=h)
        local = at.astimezone(LOCAL_TZ)
        risk = _unit_hours(history.weekly.get((first + h) % HOURS_PER_WEEK, {}), local.hour, weights)
        risk /= max(history.weeks, 1)
        if local.day in weights.market_days and history.market_days:
            market = _unit_hours(history.market.get(local.hour, {}), local.hour, weights)
            risk += market / history.market_days
        out.append(risk)
    return out
