"""Which unit: filter by the rules, rank by travel time then workload, keep the reasons. Pure."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.geo import haversine_km
from qzx_dispatch.tasks.intercept import Point
from qzx_dispatch.tasks.rules import (
    DETOUR,
    LOW_PRIORITIES,
    UNIT_SPEED_KMH,
    VEHICLE_FACTOR,
    road_class,
    travel_s,
)

RUNNERS_UP = 5
RANK_RULE = "in time for the intercept, then travel time in whole minutes, then workload, then seconds"


@dataclass(slots=True)
class Candidate:
    unit_id: str
    city_code: str
    vehicle: str
    capabilities: frozenset[str]
    lat: float
    lon: float
    status: str
    busy: bool
    has_sworn: bool
    workload: int = 0


@dataclass(slots=True)
class Need:
    priority: Priority
    capabilities: frozenset[str]
    enforcement: bool
    home_city: str
    cities: frozenset[str]
    target_lat: float
    target_lon: float
    road: str | None
    points: list[Point] = field(default_factory=list)
    reserve: int = 0
    exclude: frozenset[str] = frozenset()
    # Admin-code prefix every candidate unit must lie under: a person's action may touch only the
    # units that person sees ("37": any unit of the cities above).
    unit_scope: str = "37"
    seconds_per_km: float = field(init=False)

    def __post_init__(self) -> None:
        # Read for every candidate: worked out once.
        self.seconds_per_km = DETOUR / UNIT_SPEED_KMH[road_class(self.road)] * 3600.0


@dataclass(slots=True)
class Ranked:
    candidate: Candidate
    travel_s: float
    point: Point | None
    in_time: bool

    @property
    def unit_id(self) -> str:
        return self.candidate.unit_id

    def key(self) -> tuple[bool, int, int, float, str]:
        return (
            not self.in_time,
            math.ceil(self.travel_s / 60.0),
            self.candidate.workload,
            self.travel_s,
            self.unit_id,
        )


@dataclass
class Recommendation:
    ranked: list[Ranked]
    reserved: list[tuple[Ranked, str]]
    excluded: Counter[str]


def rejection(c: Candidate, need: Need) -> str | None:
    """Why ``c`` cannot take the task at all (None: eligible)."""
    if c.unit_id in need.exclude:
        return "already had this alert"
    if c.city_code not in need.cities:
        return "outside the jurisdiction"
    if c.status != "available":
        return "marked unavailable"
    if c.busy:
        return "holds an active task"
    missing = sorted(need.capabilities - c.capabilities)
    if missing:
        return "lacks " + ", ".join(missing)
    if need.enforcement and not c.has_sworn:
        return "no sworn officer on board"
    return None


def reach(c: Candidate, need: Need) -> Ranked | None:
    """Time to the target, or for moving targets to the best intercept point."""
    if not need.points:
        if c.vehicle == "checkpoint_post":
            t = travel_s(c.vehicle, c.lat, c.lon, need.target_lat, need.target_lon, need.road)
            return None if t is None else Ranked(c, t, None, True)
        # The common case, inlined (it runs for every unit on duty): distance × detour / speed.
        km = haversine_km(c.lat, c.lon, need.target_lat, need.target_lon)
        return Ranked(c, km * need.seconds_per_km / VEHICLE_FACTOR.get(c.vehicle, 1.0), None, True)
    options = []
    for p in need.points:
        t = travel_s(c.vehicle, c.lat, c.lon, p.lat, p.lon, p.road)
        if t is not None:
            options.append(Ranked(c, t, p, t <= p.target_eta_s))
    if not options:
        return None
    in_time = [o for o in options if o.in_time]
    if in_time:  # the nearest point it can reach before the vehicle does
        return min(in_time, key=lambda o: o.point.target_eta_s if o.point else 0.0)
    return min(options, key=lambda o: o.travel_s - (o.point.target_eta_s if o.point else 0.0))


def available_by_city(candidates: list[Candidate]) -> Counter[str]:
    return Counter(c.city_code for c in candidates if c.status == "available" and not c.busy)


def recommend(candidates: list[Candidate], need: Need, *, free: Counter[str] | None = None) -> Recommendation:
    """Every eligible unit, best first (workloads must already be set on the candidates).
    ``free``: available idle units per city when ``candidates`` is not every unit on duty."""
    excluded: Counter[str] = Counter()
    free = available_by_city(candidates) if free is None else free
    ranked: list[Ranked] = []
    reserved: list[tuple[Ranked, str]] = []
    for c in candidates:
        why = rejection(c, need)
        r = None if why else reach(c, need)
        if why or r is None:
            excluded[why or "cannot reach the target (fixed post)"] += 1
            continue
        if need.priority in LOW_PRIORITIES and free[c.city_code] - 1 < need.reserve:
            reserved.append(
                (
                    r,
                    f"reserve: taking it would leave {c.city_code} with {free[c.city_code] - 1} available "
                    f"unit(s), fewer than {need.reserve}, for a {need.priority.value} alert",
                )
            )
            continue
        ranked.append(r)
    ranked.sort(key=Ranked.key)
    reserved.sort(key=lambda x: x[0].key())
    return Recommendation(ranked, reserved, excluded)


def why_lost(loser: Ranked, winner: Ranked) -> str:
    lk, wk = loser.key(), winner.key()
    if lk[0] != wk[0]:
        return "cannot reach an intercept point before the vehicle"
    if lk[1] != wk[1]:
        return f"{loser.travel_s / 60:.1f} min away vs {winner.travel_s / 60:.1f} min"
    if lk[2] != wk[2]:
        return (
            f"same travel minute, higher workload ({loser.candidate.workload} vs {winner.candidate.workload})"
        )
    return f"same minute and workload, {loser.travel_s:.0f} s vs {winner.travel_s:.0f} s"


def describe(r: Ranked) -> dict[str, Any]:
    out: dict[str, Any] = {
        "unit_id": r.unit_id,
        "travel_s": round(r.travel_s, 1),
        "workload": r.candidate.workload,
        "city_code": r.candidate.city_code,
    }
    if r.point is not None:
        out |= {"intercept_device_id": r.point.device_id, "in_time": r.in_time}
    return out


def reasons(
    rec: Recommendation, chosen: Ranked, need: Need, *, skipped: list[str] | None = None
) -> dict[str, Any]:
    runners = [r for r in rec.ranked if r.unit_id != chosen.unit_id][:RUNNERS_UP]
    return {
        "rule": RANK_RULE,
        "needs": sorted(need.capabilities),
        "enforcement": need.enforcement,
        "cities": sorted(need.cities),
        "chosen": describe(chosen),
        "runners_up": [describe(r) | {"why": why_lost(r, chosen)} for r in runners],
        "reserved": [describe(r) | {"why": why} for r, why in rec.reserved[:RUNNERS_UP]],
        "excluded": dict(rec.excluded),
        "skipped_taken_concurrently": skipped or [],
        "intercept_points": [
            {"device_id": p.device_id, "lat": p.lat, "lon": p.lon, "target_eta_s": round(p.target_eta_s, 1)}
            for p in need.points
        ],
    }


def no_unit_reason(rec: Recommendation) -> str:
    if rec.reserved:
        return rec.reserved[0][1]
    if not rec.excluded:
        return "no unit on duty in the jurisdiction"
    parts = ", ".join(f"{n} {why}" for why, n in rec.excluded.most_common())
    return f"no suitable unit: {parts}"
