"""Accidents against the same period last year (the "three declines": fewer accidents, injured and
killed), hazards found, rectified and overdue, and the league table: each city of the province
(or each county of a city) with its figures and assessment score, ranked.

The same period last year is the same calendar day or month a year before, and for a week the
ISO week 52 weeks before (the same weekdays). A jurisdiction's total is the sum of its rows, its
rates recomputed from the sums, so the league and the total never disagree."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from qzx_alerts.reports import repository
from qzx_alerts.reports.assessment import assess, rank
from qzx_common.contracts.geo import CITIES, CITY_BY_CODE

Bounds = tuple[datetime, datetime]
ACCIDENT_KEYS = (
    "accidents",
    "injured",
    "killed",
    "major",
    "rural",
    "ebike",
    "property_only",
    "injury",
    "fatal",
)
LOOP_KEYS = ("raised", "dispatched", "signed", "feedback", "handled")
HAZARD_KEYS = ("found", "rectified", "open", "overdue")
DECLINES = ("accidents", "injured", "killed")


def year_before(period: str, first: date) -> date:
    """The first day of the same period a year before ``first``."""
    if period == "weekly":
        return first - timedelta(weeks=52)
    if first.month == 2 and first.day == 29:
        return first.replace(year=first.year - 1, day=28)
    return first.replace(year=first.year - 1)


def child_len(prefix: str) -> int:
    """The league's level: cities for the province, counties below a city."""
    return 4 if len(prefix) < 4 else 6


def area_name(code: str) -> str:
    full = code.ljust(6, "0")
    return CITY_BY_CODE[full].name if full in CITY_BY_CODE else code


def declined(now: int, last: int) -> bool:
    """A "decline": fewer than last year, or none in either year (held at zero)."""
    return now < last or now == last == 0


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _change(now: int, before: int) -> float | None:
    return round((now - before) / before * 100, 1) if before else None


def figures_row(
    code: str,
    now: dict[str, int],
    last: dict[str, int],
    loop: dict[str, int],
    hazards: dict[str, int | None],
) -> dict[str, Any]:
    """One row of the league (or the total), with its assessment."""
    a = {k: now.get(k, 0) for k in ACCIDENT_KEYS}
    before = {k: last.get(k, 0) for k in ("accidents", "injured", "killed", "major")}
    lp = {k: loop.get(k, 0) for k in LOOP_KEYS}
    row: dict[str, Any] = {
        "code": code,
        "name": area_name(code),
        **a,
        **{f"{k}_last_year": v for k, v in before.items()},
        "three_declines": all(declined(a[k], before[k]) for k in DECLINES),
        **{f"hazards_{k}": hazards.get(k, 0 if k == "found" else None) for k in HAZARD_KEYS},
        **lp,
        "road_management_rate": _rate(lp["handled"], lp["raised"]),
        "sign_for_rate": _rate(lp["signed"], lp["dispatched"]),
        "feedback_rate": _rate(lp["feedback"], lp["dispatched"]),
    }
    row["assessment"] = assess(row)
    return row


def _sum(parts: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in keys:
        values = [p[k] for p in parts if p.get(k) is not None]
        out[k] = sum(values) if values or k not in HAZARD_KEYS else None
    return out


async def league_and_total(
    raw: asyncpg.Connection, *, now: Bounds, last_year: Bounds, prefix: str, loop: dict[str, dict[str, int]]
) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """The ranked league, the jurisdiction's total row, and whether the hazard workflow exists;
    ``loop`` is the command loop of the period's alerts by child jurisdiction (``child_len``)."""
    n = child_len(prefix)
    acc_now = await repository.accidents_by_area(raw, start=now[0], end=now[1], prefix=prefix, child_len=n)
    acc_last = await repository.accidents_by_area(
        raw, start=last_year[0], end=last_year[1], prefix=prefix, child_len=n
    )
    workflow = await repository.hazard_workflow(raw)
    hazards = await repository.hazards_by_area(
        raw, start=now[0], end=now[1], prefix=prefix, child_len=n, workflow=workflow
    )
    codes = set(acc_now) | set(acc_last) | set(loop) | set(hazards)
    if n == 4 and len(prefix) <= 2:
        codes |= {c.code[:4] for c in CITIES if c.code.startswith(prefix)}  # every city, even a quiet one
    empty_hazards: dict[str, int | None] = {"found": 0}
    if workflow:
        empty_hazards |= {"rectified": 0, "open": 0, "overdue": 0}
    rows = [
        figures_row(
            code,
            acc_now.get(code, {}),
            acc_last.get(code, {}),
            loop.get(code, {}),
            hazards.get(code, empty_hazards),
        )
        for code in sorted(codes)
    ]
    total = figures_row(
        prefix,
        _sum(list(acc_now.values()), ACCIDENT_KEYS),
        _sum(list(acc_last.values()), ACCIDENT_KEYS),
        _sum(list(loop.values()), LOOP_KEYS),
        _sum(list(hazards.values()), HAZARD_KEYS) if hazards else empty_hazards,
    )
    return rank(rows), total, workflow


def accident_section(total: dict[str, Any], *, by_hour: list[int], last_year: Bounds) -> dict[str, Any]:
    t = total
    return {
        "total": t["accidents"],
        "injured": t["injured"],
        "killed": t["killed"],
        "major": t["major"],
        "by_severity": {k: t[k] for k in ("property_only", "injury", "fatal")},
        "rural": t["rural"],
        "rural_share": _rate(t["rural"], t["accidents"]),
        "ebike": t["ebike"],
        "ebike_share": _rate(t["ebike"], t["accidents"]),
        "by_hour": by_hour,
        "last_year": {
            "from": last_year[0],
            "to": last_year[1],
            **{k: t[f"{k}_last_year"] for k in ("accidents", "injured", "killed", "major")},
        },
        "change_pct": {
            k: _change(t[k], t[f"{k}_last_year"]) for k in ("accidents", "injured", "killed", "major")
        },
        "three_declines": {
            **{k: declined(t[k], t[f"{k}_last_year"]) for k in DECLINES},
            "all": t["three_declines"],
        },
    }


def hazard_section(total: dict[str, Any], *, workflow: bool) -> dict[str, Any]:
    return {
        "workflow": workflow,
        **{k: total[f"hazards_{k}"] for k in HAZARD_KEYS},
    }
