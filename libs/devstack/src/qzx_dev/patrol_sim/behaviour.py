"""How a crew behaves on one task: drawn up front, from a generator seeded by the task id, so a
restarted simulator makes the same choices (and its retried feedback carries the same body)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from qzx_common.contracts.geo import haversine_km
from qzx_common.contracts.tasks import Outcome, Task

# Share of outcomes for a target that stays put, and for one on the move (intercept point set).
OUTCOMES_STATIC = {
    Outcome.ticketed: 0.42,
    Outcome.warned: 0.20,
    Outcome.intercepted: 0.14,
    Outcome.not_found: 0.14,
    Outcome.false_alarm: 0.10,
}
OUTCOMES_MOVING = {
    Outcome.intercepted: 0.45,
    Outcome.not_found: 0.30,
    Outcome.ticketed: 0.15,
    Outcome.false_alarm: 0.06,
    Outcome.warned: 0.04,
}
# Minutes spent on scene before the crew reports: (low, high).
ON_SCENE_MIN = {
    Outcome.intercepted: (8.0, 20.0),
    Outcome.ticketed: (5.0, 15.0),
    Outcome.warned: (3.0, 8.0),
    Outcome.not_found: (5.0, 12.0),
    Outcome.false_alarm: (2.0, 5.0),
}
NOTES = {
    Outcome.intercepted: (
        "vehicle stopped, driver held for processing",
        "stopped at the checkpoint, handed over",
    ),
    Outcome.ticketed: ("ticket issued on the spot", "penalty notice issued, evidence photographed"),
    Outcome.warned: ("verbal warning and education", "warned, rider persuaded to comply"),
    Outcome.not_found: ("no such vehicle at the scene", "searched the area, target gone"),
    Outcome.false_alarm: ("plate misread by the camera", "legal vehicle, sensor reading wrong"),
}
# Travel: straight-line distance times a detour factor, at a speed drawn per trip.
DETOUR = 1.3
SPEED_KMH = (40.0, 70.0)


@dataclass(frozen=True)
class Plan:
    ignore: bool
    # When nobody else can take an ignored task, dispatch escalates it in place and chases the
    # unit again: most crews answer then (the same share ignore the chase too).
    ignore_chase: bool
    sign_share: float  # of the time left before sign-by
    depart_s: float  # after signing, before reporting en route
    speed_kmh: float
    outcome: Outcome
    on_scene_s: float
    note: str


def plan_for(task_id: str, *, moving: bool, seed: int | None, ignore_share: float) -> Plan:
    rng = random.Random(f"{seed}:{task_id}")
    ignore = rng.random() < ignore_share
    # Most crews sign within the first third of the window; a few take most of it.
    sign_share = rng.betavariate(1.6, 5.0) if rng.random() < 0.9 else rng.uniform(0.5, 0.85)
    outcome = _draw(rng, OUTCOMES_MOVING if moving else OUTCOMES_STATIC)
    low, high = ON_SCENE_MIN[outcome]
    ignore_chase = rng.random() < ignore_share
    return Plan(
        ignore=ignore,
        ignore_chase=ignore_chase,
        sign_share=sign_share,
        depart_s=rng.uniform(5.0, 40.0),
        speed_kmh=rng.uniform(*SPEED_KMH),
        outcome=outcome,
        on_scene_s=rng.uniform(low, high) * 60,
        note=rng.choice(NOTES[outcome]),
    )


def _draw(rng: random.Random, shares: dict[Outcome, float]) -> Outcome:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def destination(task: Task) -> tuple[float, float]:
    """Where the crew drives: the intercept point ahead of a moving target, else the target."""
    if task.intercept_point is not None:
        return task.intercept_point.lat, task.intercept_point.lon
    return task.target.lat, task.target.lon


def travel_s(start: tuple[float, float], end: tuple[float, float], speed_kmh: float) -> float:
    return haversine_km(*start, *end) * DETOUR / speed_kmh * 3600


def waypoints(start: tuple[float, float], end: tuple[float, float], steps: int) -> list[tuple[float, float]]:
    """``steps`` positions from just after ``start`` to ``end`` (straight line: good enough on a map)."""
    steps = max(1, steps)
    return [
        (start[0] + (end[0] - start[0]) * k / steps, start[1] + (end[1] - start[1]) * k / steps)
        for k in range(1, steps + 1)
    ]


def steps_for(seconds: float, every_s: float, most: int) -> int:
    return max(1, min(most, math.ceil(seconds / every_s)))
