"""The units on duty in a consumed batch's cities, read once per batch: the intake ranks each alert
of the batch in memory, as ``service.rank`` would, and marks the units it takes, instead of one
ranking query per alert. The database keeps the last word: every chosen unit is claimed again
(``repository.claim_units``) before its task is inserted.

An alert at a fixed place in one city (most of them) is ranked over the city's units as arrays
(numpy): the rules as masks, travel times vectorised, the best few sorted by ``Ranked.key``. A
moving target (intercept points, neighbour cities) goes through ``recommend`` itself."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_dispatch.tasks import repository
from qzx_dispatch.tasks.recommend import (
    RUNNERS_UP,
    Candidate,
    Need,
    Ranked,
    Recommendation,
    recommend,
    rejection,
)
from qzx_dispatch.tasks.rules import CAPABILITIES, LOW_PRIORITIES, POST_REACH_KM, VEHICLE_FACTOR

BIT = {c: 1 << i for i, c in enumerate(CAPABILITIES)}
# Enough of the ranking for the fast path: the chosen unit and the runners-up its reasons name.
TOP = RUNNERS_UP + 1
UNREACHABLE = "cannot reach the target (fixed post)"


class CityUnits:
    """One city's units on duty, in unit id order (the last tie-break of ``Ranked.key``)."""

    def __init__(self, units: list[Candidate]) -> None:
        self.units = sorted(units, key=lambda c: c.unit_id)
        self.lat = np.array([c.lat for c in self.units], dtype=float)
        self.lon = np.array([c.lon for c in self.units], dtype=float)
        # 0 marks a checkpoint post (it reaches only what is within POST_REACH_KM).
        self.vehicle_factor = np.array(
            [
                0.0 if c.vehicle == "checkpoint_post" else VEHICLE_FACTOR.get(c.vehicle, 1.0)
                for c in self.units
            ]
        )
        self.caps = np.array([sum(BIT.get(x, 0) for x in c.capabilities) for c in self.units], dtype=np.int64)
        self.sworn = np.array([c.has_sworn for c in self.units], dtype=bool)
        self.available = np.array([c.status == "available" for c in self.units], dtype=bool)
        self.busy = np.array([c.busy for c in self.units], dtype=bool)
        self.workload = np.array([c.workload for c in self.units], dtype=np.int64)
        self.position = {c.unit_id: i for i, c in enumerate(self.units)}


class Held(NamedTuple):
    """The active task a busy unit holds."""

    status: str
    priority: str
    task_id: str


@dataclass
class DutyBoard:
    cities: dict[str, CityUnits]
    free: Counter[str] = field(default_factory=Counter)  # available, idle units per city
    held: dict[str, Held] = field(default_factory=dict)  # busy unit → its task

    @classmethod
    async def load(
        cls, session: AsyncSession, *, cities: Iterable[str], now: datetime, since: datetime
    ) -> DutyBoard:
        by_city: dict[str, list[Candidate]] = {}
        held: dict[str, Held] = {}
        for c, task in await repository.duty_board(session, cities=sorted(set(cities)), now=now, since=since):
            by_city.setdefault(c.city_code, []).append(c)
            if task is not None:
                held[c.unit_id] = Held(*task)
        board = cls({city: CityUnits(units) for city, units in by_city.items()}, held=held)
        for city, units in board.cities.items():
            board.free[city] = int((units.available & ~units.busy).sum())
        return board

    def recommend(self, need: Need, *, limit: int) -> Recommendation:
        """``service.rank`` from memory (the nearest ``limit`` eligible units ranked, as the query
        hands them over). For a fixed place ``ranked`` holds only the best ``TOP``."""
        if not need.points and len(need.cities) == 1 and not need.exclude and need.capabilities <= BIT.keys():
            return self._rank_fixed(next(iter(need.cities)), need, limit=limit)
        return self._rank_any(need, limit=limit)

    def holders(self, need: Need, *, statuses: Collection[str]) -> list[tuple[Candidate, Held]]:
        """The units in the need's cities holding a task in ``statuses`` of a lower priority than
        the need's (what pre-emption could take)."""
        return [
            (c, task)
            for city in sorted(need.cities)
            for c in (self.cities[city].units if city in self.cities else ())
            if (task := self.held.get(c.unit_id)) is not None
            and task.status in statuses
            and task.priority > need.priority.value
        ]

    def take(self, unit: Candidate, *, priority: str, task_id: str) -> None:
        """``unit`` holds the new task ``task_id`` of ``priority`` from now on (for the rest of the batch)."""
        self.held[unit.unit_id] = Held("assigned", priority, task_id)
        units = self.cities[unit.city_code]
        i = units.position[unit.unit_id]
        if units.available[i] and not units.busy[i]:
            self.free[unit.city_code] -= 1
        units.busy[i] = unit.busy = True
        units.workload[i] += 1
        unit.workload += 1

    def release(self, unit: Candidate) -> None:
        """``unit``'s task is cancelled: it is free again (for the rest of the batch)."""
        del self.held[unit.unit_id]
        units = self.cities[unit.city_code]
        i = units.position[unit.unit_id]
        if units.available[i] and units.busy[i]:
            self.free[unit.city_code] += 1
        units.busy[i] = unit.busy = False

    def _rank_any(self, need: Need, *, limit: int) -> Recommendation:
        excluded: Counter[str] = Counter()
        eligible = []
        for city in need.cities:
            for c in self.cities[city].units if city in self.cities else ():
                why = rejection(c, need)
                if why is None:
                    eligible.append(c)
                else:
                    excluded[why] += 1
        if len(eligible) > limit:
            eligible = heapq.nsmallest(limit, eligible, key=_nearest_anchor(need))
        rec = recommend(eligible, need, free=self.free)
        rec.excluded.update(excluded)
        return rec

    def _rank_fixed(self, city: str, need: Need, *, limit: int) -> Recommendation:
        rec = Recommendation([], [], Counter())
        u = self.cities.get(city)
        if u is None:
            return rec
        ok = _eligible(u, need, rec.excluded)
        idx = np.flatnonzero(ok)
        if len(idx) > limit:  # the query's order: nearest by straight line
            k = math.cos(math.radians(need.target_lat))
            d = (u.lat[idx] - need.target_lat) ** 2 + ((u.lon[idx] - need.target_lon) * k) ** 2
            idx = np.sort(idx[np.argpartition(d, limit - 1)[:limit]])
        km = _haversine_km(u.lat[idx], u.lon[idx], need.target_lat, need.target_lon)
        factor = u.vehicle_factor[idx]
        post = factor == 0.0
        reach = ~post | (km <= POST_REACH_KM)
        if n := int((~reach).sum()):
            rec.excluded[UNREACHABLE] += n
        idx, km, factor, post = idx[reach], km[reach], factor[reach], post[reach]
        travel = np.where(post, 0.0, km * need.seconds_per_km / np.where(post, 1.0, factor))
        order = np.lexsort((idx, travel, u.workload[idx], np.ceil(travel / 60.0)))[:TOP]
        best = [Ranked(u.units[idx[j]], float(travel[j]), None, True) for j in order]
        if need.priority in LOW_PRIORITIES and self.free[city] - 1 < need.reserve:
            why = (
                f"reserve: taking it would leave {city} with {self.free[city] - 1} available "
                f"unit(s), fewer than {need.reserve}, for a {need.priority.value} alert"
            )
            rec.reserved = [(r, why) for r in best]
        else:
            rec.ranked = best
        return rec


def _eligible(u: CityUnits, need: Need, excluded: Counter[str]) -> np.ndarray:
    """The units passing every rule of ``recommend.rejection``, counting the others by the first
    rule each fails."""
    if n := int((~u.available).sum()):
        excluded["marked unavailable"] += n
    if n := int((u.available & u.busy).sum()):
        excluded["holds an active task"] += n
    free = u.available & ~u.busy
    want = sum(BIT[x] for x in need.capabilities)
    missing = want & ~u.caps
    lacking = free & (missing != 0)
    if lacking.any():
        values, counts = np.unique(missing[lacking], return_counts=True)
        for value, n in zip(values.tolist(), counts.tolist(), strict=True):
            excluded["lacks " + ", ".join(sorted(c for c, b in BIT.items() if value & b))] += n
    ok = free & (missing == 0)
    if need.enforcement:
        if n := int((ok & ~u.sworn).sum()):
            excluded["no sworn officer on board"] += n
        ok &= u.sworn
    return ok


def _haversine_km(lat: np.ndarray, lon: np.ndarray, to_lat: float, to_lon: float) -> np.ndarray:
    """``geo.haversine_km`` from many points to one."""
    p1, p2 = np.radians(lat), math.radians(to_lat)
    dp, dl = p2 - p1, np.radians(to_lon - lon)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def _nearest_anchor(need: Need) -> Callable[[Candidate], float]:
    anchors = [(need.target_lat, need.target_lon)] + [(p.lat, p.lon) for p in need.points]
    k = math.cos(math.radians(need.target_lat))

    def distance(c: Candidate) -> float:
        return min((c.lat - lat) ** 2 + ((c.lon - lon) * k) ** 2 for lat, lon in anchors)

    return distance
