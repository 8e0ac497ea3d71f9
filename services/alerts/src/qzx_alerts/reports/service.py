"""Reports for the daily watch, weekly scheduling and monthly analysis: what happened (events by
violation, hour, city; hotspots; repeat offenders), how the loop performed (sign-for and feedback
rates, times to sign and resolve, road management rate = alerts handled / alerts raised), and the
trend against the previous period of the same kind; accidents against the same period last year,
hazards, the league table of the cities (or counties) and the assessment score (reports.league,
reports.assessment, docs/assessment.md). Periods are local calendar days, ISO weeks
(Monday first) and calendar months.

Definitions: an alert belongs to the period it was first seen in; *dispatched* had a task,
*signed* a task signed for; *feedback* a task resolved with an outcome; *handled* = resolved.
Rates are over dispatched alerts (sign-for, feedback) or raised alerts (road management); time to
sign runs from dispatch, time to resolve from the first sighting."""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.reports import league, repository
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.geo import CITY_BY_CODE
from qzx_common.db import driver_connection

Period = Literal["daily", "weekly", "monthly"]
TOP = 10


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """[first day, day after the last) of the period containing ``day``."""
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def previous_day(period: Period, start: date) -> date:
    """A day inside the previous period of the same kind."""
    return start - timedelta(days=1)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _change(now: float, before: float) -> float | None:
    return round((now - before) / before * 100, 1) if before else None


def _seconds(value: Any) -> float | None:
    return round(float(value), 1) if value is not None else None


async def _event_counts(
    raw: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    prefix: str,
    offset_s: int,
    rolled_up: bool,
) -> dict[str, Any]:
    if rolled_up:  # a calendar month, its bounds local midnights at the rollups' offset
        return await repository.event_counts_rolled_up(
            raw, first=start.date(), after=end.date(), prefix=prefix, top=TOP
        )
    return await repository.event_counts(raw, start=start, end=end, prefix=prefix, offset_s=offset_s, top=TOP)


async def _figures(
    raw: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    prefix: str,
    offset_s: int,
    rolled_up: bool,
) -> dict[str, Any]:
    events = await _event_counts(
        raw, start=start, end=end, prefix=prefix, offset_s=offset_s, rolled_up=rolled_up
    )
    child_len = league.child_len(prefix)
    if rolled_up and len(prefix) <= repository.DURATION_ROLLUP_AREA_LENGTH:
        a = await repository.alert_figures_rolled_up(
            raw, month=start.date(), prefix=prefix, child_len=child_len
        )
    else:
        a = await repository.alert_figures(raw, start=start, end=end, prefix=prefix, child_len=child_len)
    return {
        "loop_by_area": a["by_area"],
        "hotspots": events["hotspots"],
        "events": {
            "total": sum(events["violation"].values()),
            "by_violation": dict(sorted(events["violation"].items())),
            "by_hour": [events["hour"].get(str(h), 0) for h in range(24)],
            "by_day": dict(sorted(events["day"].items())),
            "by_city": {
                code: {"name": CITY_BY_CODE[code].name if code in CITY_BY_CODE else code, "count": n}
                for code, n in sorted(events["city"].items())
            },
        },
        "alerts": {
            "raised": a["raised"],
            "by_priority": dict(sorted(a["by"]["priority"].items())),
            "by_kind": dict(sorted(a["by"]["kind"].items())),
            "by_outcome": dict(sorted(a["by"]["outcome"].items())),
            "dispatched": a["dispatched"],
            "signed": a["signed"],
            "feedback": a["feedback"],
            "handled": a["resolved"],
            "dismissed": a["dismissed"],
            "escalated": a["escalated"],
            "sign_for_rate": _rate(a["signed"], a["dispatched"]),
            "feedback_rate": _rate(a["feedback"], a["dispatched"]),
            "road_management_rate": _rate(a["resolved"], a["raised"]),
            "time_to_sign_s": {"median": _seconds(a["sign_median"]), "p90": _seconds(a["sign_p90"])},
            "time_to_resolve_s": {"median": _seconds(a["resolve_median"]), "p90": _seconds(a["resolve_p90"])},
        },
    }


async def _repeat_offenders(
    raw: asyncpg.Connection, *, start: datetime, end: datetime, prefix: str, rolled_up: bool
) -> list[dict[str, Any]]:
    """The province's month from ``plate_months``; a city's or a county's from the sightings."""
    if rolled_up and len(prefix) == repository.ROLLUP_AREA_LENGTH:
        return await repository.repeat_offenders_rolled_up(
            raw, month=start.date(), start=start, end=end, prefix=prefix, limit=TOP
        )
    return await repository.repeat_offenders(raw, start=start, end=end, prefix=prefix, limit=TOP)


async def build_report(
    conn: AsyncConnection, *, period: Period, day: date, prefix: str, rules: Rules, rollups: bool = True
) -> dict[str, Any]:
    """The report; ``rollups`` reads a month's event and alert figures from the rollups when
    they answer it (the rules' offset is theirs; the alerts' of the province and a city), else
    (and with ``rollups=False``) from the sightings and the alerts; a day and a week (a thirtieth
    and a quarter of a month) read the sightings and the alerts."""
    raw = await driver_connection(conn)
    tz = rules.tz
    offset_s = int(tz.utcoffset(None).total_seconds())
    rolled_up = rollups and period == "monthly" and offset_s == repository.ROLLUP_OFFSET_S

    def bounds(d: date) -> tuple[datetime, datetime]:
        first, after = period_bounds(period, d)
        return datetime.combine(first, time(), tz), datetime.combine(after, time(), tz)

    start, end = bounds(day)
    prev_start, prev_end = bounds(previous_day(period, start.date()))
    figures = functools.partial(_figures, raw, prefix=prefix, offset_s=offset_s, rolled_up=rolled_up)
    now = await figures(start=start, end=end)
    before = await figures(start=prev_start, end=prev_end)
    hotspots, loop = now.pop("hotspots"), now.pop("loop_by_area")
    before.pop("hotspots"), before.pop("loop_by_area")
    last_year = bounds(league.year_before(period, start.date()))
    table, total, workflow = await league.league_and_total(
        raw, now=(start, end), last_year=last_year, prefix=prefix, loop=loop
    )
    accident_hours = await repository.accidents_by_hour(
        raw, start=start, end=end, prefix=prefix, offset_s=offset_s
    )
    return {
        "period": period,
        "from": start,
        "to": end,
        "admin_code": prefix,
        "utc_offset": rules.utc_offset,
        **now,
        "accidents": league.accident_section(total, by_hour=accident_hours, last_year=last_year),
        "hazards": league.hazard_section(total, workflow=workflow),
        "assessment": total["assessment"],
        "league": {
            "level": "city" if league.child_len(prefix) == 4 else "county",
            "items": table,
            "total": total,
        },
        "hotspots": hotspots,
        "repeat_offenders": await _repeat_offenders(
            raw, start=start, end=end, prefix=prefix, rolled_up=rolled_up
        ),
        "trend": {
            "previous": {"from": prev_start, "to": prev_end, **before},
            "events_change_pct": _change(now["events"]["total"], before["events"]["total"]),
            "alerts_change_pct": _change(now["alerts"]["raised"], before["alerts"]["raised"]),
            "road_management_rate_change": (
                round(now["alerts"]["road_management_rate"] - before["alerts"]["road_management_rate"], 4)
                if now["alerts"]["road_management_rate"] is not None
                and before["alerts"]["road_management_rate"] is not None
                else None
            ),
        },
    }
