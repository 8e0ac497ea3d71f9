"""The operations-quality and safety-situation assessment (运行质量与安全形势考核): one score out of
100 per jurisdiction and period, from the report's own figures, that ranks the cities (or a city's
counties). docs/assessment.md states the formula with an example; this module is its one
definition.

Safety situation, 60 points, against the same period last year ("three declines" and no major
accident): accidents 15, injured 15, killed 20, no major accident 10. Each decline part scores
``clamp(0.5 + (last - now) / max(last, 1), 0, 1)`` of its weight: unchanged earns half, a fall by
half or more earns all, a rise by half or more earns nothing; none this period earns all.

Operations quality, 40 points: road management rate 15, sign-for rate 5, feedback rate 5 (each the
rate times its weight), hazard rectification 10 (rectified / (rectified + open)) and hazards on
time 5 (1 - overdue / open). A rate with nothing to measure (no alert raised, no hazard open)
scores half its weight: neither credit nor blame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NEUTRAL = 0.5


@dataclass(frozen=True)
class Part:
    name: str
    weight: float
    group: str  # safety | operations
    why: str


PARTS = (
    Part("accidents_decline", 15, "safety", "事故起数同比下降 / fewer accidents than last year"),
    Part("injured_decline", 15, "safety", "受伤人数同比下降 / fewer injured than last year"),
    Part("killed_decline", 20, "safety", "死亡人数同比下降 / fewer deaths than last year"),
    Part("no_major_accident", 10, "safety", "未发生较大事故 / no accident with three or more deaths"),
    Part("road_management_rate", 15, "operations", "路面见警管事率 / alerts handled of alerts raised"),
    Part("sign_for_rate", 5, "operations", "签收率 / dispatched tasks signed for"),
    Part("feedback_rate", 5, "operations", "反馈率 / dispatched tasks closed with an outcome"),
    Part("hazard_rectification", 10, "operations", "隐患整改率 / hazards rectified of those to act on"),
    Part("hazards_on_time", 5, "operations", "隐患按期整改 / open hazards not past their deadline"),
)
WEIGHTS = {p.name: p.weight for p in PARTS}


def decline(now: int, last: int) -> float:
    if now == 0:
        return 1.0
    return min(1.0, max(0.0, NEUTRAL + (last - now) / max(last, 1)))


def _rate_or_neutral(rate: float | None) -> float:
    return NEUTRAL if rate is None else rate


def _share(part: int | None, whole: int | None) -> float:
    return part / whole if part is not None and whole else NEUTRAL


def fractions(row: dict[str, Any]) -> dict[str, float]:
    """Each part's fraction (0-1) of a league row or report total (the keys of ``league_row``)."""
    rectified, open_, overdue = row["hazards_rectified"], row["hazards_open"], row["hazards_overdue"]
    return {
        "accidents_decline": decline(row["accidents"], row["accidents_last_year"]),
        "injured_decline": decline(row["injured"], row["injured_last_year"]),
        "killed_decline": decline(row["killed"], row["killed_last_year"]),
        "no_major_accident": 0.0 if row["major"] else 1.0,
        "road_management_rate": _rate_or_neutral(row["road_management_rate"]),
        "sign_for_rate": _rate_or_neutral(row["sign_for_rate"]),
        "feedback_rate": _rate_or_neutral(row["feedback_rate"]),
        "hazard_rectification": _share(rectified, (rectified or 0) + (open_ or 0)),
        "hazards_on_time": NEUTRAL if not open_ or overdue is None else 1 - overdue / open_,
    }


def assess(row: dict[str, Any]) -> dict[str, Any]:
    """The score (0-100, one decimal), its safety and operations subtotals and each part's points."""
    points = {name: round(WEIGHTS[name] * f, 2) for name, f in fractions(row).items()}
    by_group = {
        g: round(sum(points[p.name] for p in PARTS if p.group == g), 1) for g in ("safety", "operations")
    }
    return {"score": round(sum(points.values()), 1), **by_group, "points": points}


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Highest score first (ties by code); ``rank`` 1-based, equal scores sharing a rank."""
    ordered = sorted(rows, key=lambda r: (-r["assessment"]["score"], r["code"]))
    previous, place = None, 0
    for i, row in enumerate(ordered, start=1):
        if row["assessment"]["score"] != previous:
            previous, place = row["assessment"]["score"], i
        row["rank"] = place
    return ordered
