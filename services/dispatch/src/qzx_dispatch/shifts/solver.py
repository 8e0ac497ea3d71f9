"""Staggered shifts as a set-covering integer program (SciPy's HiGHS ``milp``).

Variables: x[s] = units starting a shift at candidate hour s (integer), u[h] = demand left
uncovered in hour h (continuous, integral at the optimum). Minimise L·Σx + M·Σu with M larger than
any staffing cost, which makes the objective lexicographic: cover as much demand as the limits
allow, then use the fewest unit-hours.

  cover:      Σ_{s covers h} x[s] + u[h] ≥ d[h]                      every hour h
  on duty:    Σ_{s covers h} x[s] ≤ max_on_duty                      every hour h (if set)
  head count: Σ_{s in [t, t+L+rest)} x[s] ≤ head_count                every hour t (if set)
  per start:  x[s] ≤ max_per_start                                   (if set)

The head-count rows say that a unit can start at most one shift in any window of shift + rest
hours: necessary for any rota, and sufficient on a non-cyclic horizon (interval colouring).
With ``cyclic`` the horizon wraps (a weekly rota repeats), so a shift may run past its end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.optimize import LinearConstraint


@dataclass(frozen=True)
class PlanInput:
    demand: list[int]
    shift_hours: int
    start_hours: frozenset[int]  # hours of day at which a shift may start
    min_rest_hours: int = 12
    head_count: int | None = None
    max_on_duty: int | None = None
    max_per_start: int | None = None
    cyclic: bool = True


@dataclass(frozen=True)
class PlanResult:
    starts: dict[int, int]  # horizon hour → units starting then
    coverage: list[int]
    shortfall: list[int]
    unit_hours: int
    status: str
    solve_ms: float

    @property
    def uncovered_hours(self) -> list[int]:
        return [h for h, s in enumerate(self.shortfall) if s > 0]


def candidate_starts(p: PlanInput) -> list[int]:
    return [h for h in range(len(p.demand)) if h % 24 in p.start_hours]


def covered_hours(start: int, p: PlanInput) -> list[int]:
    n = len(p.demand)
    hours = range(start, start + p.shift_hours)
    return [h % n for h in hours] if p.cyclic else [h for h in hours if h < n]


def coverage_of(starts: dict[int, int], p: PlanInput) -> list[int]:
    cov = [0] * len(p.demand)
    for s, k in starts.items():
        for h in covered_hours(s, p):
            cov[h] += k
    return cov


def solve(p: PlanInput) -> PlanResult:
    # Imported here, not at module level: SciPy's optimiser costs most of a second of CPU that
    # every dispatch process would pay at start-up for a plan made now and then.
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    t0 = time.perf_counter()
    n, starts = len(p.demand), candidate_starts(p)
    m = len(starts)
    if n == 0 or m == 0:
        short = list(p.demand)
        return PlanResult({}, [0] * n, short, 0, "optimal", (time.perf_counter() - t0) * 1000)
    big = p.shift_hours * (sum(p.demand) + 1) + 1
    cost = np.concatenate([np.full(m, float(p.shift_hours)), np.full(n, float(big))])

    cover = lil_matrix((n, m + n))
    for j, s in enumerate(starts):
        for h in covered_hours(s, p):
            cover[h, j] = 1
    for h in range(n):
        cover[h, m + h] = 1
    constraints = [LinearConstraint(cover.tocsr(), lb=np.array(p.demand, dtype=float), ub=np.inf)]
    if p.max_on_duty is not None:
        on_duty = cover.copy()
        for h in range(n):
            on_duty[h, m + h] = 0
        constraints.append(LinearConstraint(on_duty.tocsr(), lb=0, ub=float(p.max_on_duty)))
    if p.head_count is not None:
        constraints.append(_head_count_rows(starts, p, m, n))

    upper = np.concatenate(
        [np.full(m, np.inf if p.max_per_start is None else float(p.max_per_start)), np.full(n, np.inf)]
    )
    integrality = np.concatenate([np.ones(m), np.zeros(n)])
    res = milp(cost, constraints=constraints, integrality=integrality, bounds=Bounds(np.zeros(m + n), upper))
    if res.x is None:
        raise RuntimeError(f"the shift plan could not be solved: {res.message}")
    chosen = {s: round(res.x[j]) for j, s in enumerate(starts) if round(res.x[j]) > 0}
    cov = coverage_of(chosen, p)
    short = [max(0, d - c) for d, c in zip(p.demand, cov, strict=True)]
    status = "optimal" if res.status == 0 else str(res.message)
    unit_hours = p.shift_hours * sum(chosen.values())
    return PlanResult(chosen, cov, short, unit_hours, status, (time.perf_counter() - t0) * 1000)


def _head_count_rows(starts: list[int], p: PlanInput, m: int, n: int) -> LinearConstraint:
    from scipy.optimize import LinearConstraint  # lazily, as in solve
    from scipy.sparse import lil_matrix

    window = p.shift_hours + p.min_rest_hours
    rows = lil_matrix((n, m + n))
    for t in range(n):
        for j, s in enumerate(starts):
            offset = (s - t) % n if p.cyclic else s - t
            if 0 <= offset < window:
                rows[t, j] = 1
    return LinearConstraint(rows.tocsr(), lb=0, ub=float(p.head_count or 0))
