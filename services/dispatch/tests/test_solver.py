"""The shift planner's integer program against brute force on small cases."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from qzx_dispatch.shifts.demand import curve, hour_of_week
from qzx_dispatch.shifts.solver import PlanInput, candidate_starts, covered_hours, solve


def brute_force(p: PlanInput, cap: int) -> tuple[int, int]:
    """(least total shortfall, then least unit-hours) over every x in [0, cap]^starts."""
    starts = candidate_starts(p)
    best: tuple[int, int] | None = None
    window = p.shift_hours + p.min_rest_hours
    n = len(p.demand)
    for xs in itertools.product(range(cap + 1), repeat=len(starts)):
        if p.max_per_start is not None and max(xs, default=0) > p.max_per_start:
            continue
        cov = [0] * n
        for s, k in zip(starts, xs, strict=True):
            for h in covered_hours(s, p):
                cov[h] += k
        if p.max_on_duty is not None and max(cov) > p.max_on_duty:
            continue
        if p.head_count is not None:
            ok = all(
                sum(
                    k
                    for s, k in zip(starts, xs, strict=True)
                    if 0 <= ((s - t) % n if p.cyclic else s - t) < window
                )
                <= p.head_count
                for t in range(n)
            )
            if not ok:
                continue
        key = (sum(max(0, d - c) for d, c in zip(p.demand, cov, strict=True)), p.shift_hours * sum(xs))
        best = key if best is None or key < best else best
    assert best is not None
    return best


CASES = []
rng = random.Random(20261128)
for i in range(40):
    hours = rng.randint(6, 10)
    CASES.append(
        PlanInput(
            demand=[rng.randint(0, 2) for _ in range(hours)],
            shift_hours=rng.randint(2, 4),
            start_hours=frozenset(rng.sample(range(hours), k=min(hours, rng.randint(3, 5)))),
            min_rest_hours=rng.randint(0, 3),
            head_count=rng.choice([None, 1, 2, 3]),
            max_on_duty=rng.choice([None, None, 1, 2]),
            max_per_start=rng.choice([None, None, 1]),
            cyclic=bool(i % 2),
        )
    )


@pytest.mark.parametrize("p", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_solver_matches_brute_force(p: PlanInput) -> None:
    result = solve(p)
    assert result.status == "optimal"
    assert (sum(result.shortfall), result.unit_hours) == brute_force(p, cap=3)
    # What it reports is what its starts give.
    assert result.coverage == [
        sum(k for s, k in result.starts.items() if h in covered_hours(s, p)) for h in range(len(p.demand))
    ]
    assert result.uncovered_hours == [
        h for h, (d, c) in enumerate(zip(p.demand, result.coverage, strict=True)) if c < d
    ]


def test_staggered_starts_beat_fixed_shifts_on_a_peaky_day() -> None:
    demand = [1] * 7 + [4, 4, 2, 2, 2, 2, 2, 2, 2, 4, 4, 3] + [1] * 5
    staggered = solve(PlanInput(demand=demand, shift_hours=8, start_hours=frozenset(range(24))))
    fixed = solve(PlanInput(demand=demand, shift_hours=8, start_hours=frozenset({0, 8, 16})))
    assert sum(staggered.shortfall) == sum(fixed.shortfall) == 0
    assert staggered.unit_hours < fixed.unit_hours


def test_head_count_limits_leave_hours_uncovered_and_say_which() -> None:
    p = PlanInput(
        demand=[3] * 24, shift_hours=8, start_hours=frozenset(range(24)), min_rest_hours=16, head_count=2
    )
    r = solve(p)
    # Two units, one shift each per 24 h: 16 of the 72 unit-hours needed; every hour stays short.
    assert r.status == "optimal" and r.unit_hours == 16 and sum(r.shortfall) == 72 - 16
    assert len(r.uncovered_hours) == 24


def test_demand_curve_from_history_by_hour_of_week_and_violation() -> None:
    start = datetime.fromisoformat("2026-11-23T00:00:00+08:00")  # a Monday, local midnight
    assert hour_of_week(start) == 0 and hour_of_week(datetime(2026, 11, 22, 16, tzinfo=UTC)) == 0
    counts = {22: {"drunk_driving": 8, "speeding": 4}, 23: {"overload": 2}}
    d = curve(counts, start=start, hours=24, weeks=4, utilisation=0.5, min_units=1)
    # 22:00: (8×1.0 + 4×0.5) / 4 weeks = 2.5 unit-hours → 5 units at 50 %; 23:00: 2×1.5/4/0.5 = 1.5 → 2.
    assert d[22] == 5 and d[23] == 2 and d[3] == 1
