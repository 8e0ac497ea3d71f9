"""Simulated time for the camera stream.

Cameras report in China Standard Time, so the hourly patterns are read on the +08:00 wall clock.
A simulated clock may run from a past start at a speed-up factor (history generation), but it
never runs ahead of real time: the ingest service rejects events more than 5 minutes in the future.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

CST = timezone(timedelta(hours=8), "CST")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SimClock:
    """Real time (``start=None``), or ``start`` advancing ``speedup`` times faster than real time,
    held back to the real time once it catches up."""

    def __init__(self, start: datetime | None = None, speedup: float = 1.0) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("the clock's start needs a UTC offset, e.g. 2025-11-01T00:00:00+08:00")
        if speedup <= 0:
            raise ValueError("the speed-up factor must be positive")
        self.start = start
        self.speedup = speedup
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        real = datetime.now(UTC)
        if self.start is None:
            return real.astimezone(CST)
        simulated = self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.speedup)
        return min(simulated, real).astimezone(CST)


class StepClock:
    """Deterministic time for tests and history: each reading advances by ``step`` (and is held
    at the real time once it gets there, unless ``ahead``: messages made before the moment they
    are sent at, as a benchmark prepares its load)."""

    def __init__(self, start: datetime, step: timedelta, *, ahead: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start needs a UTC offset")
        self._next = start
        self.step = step
        self.ahead = ahead

    def now(self) -> datetime:
        at = self._next if self.ahead else min(self._next, datetime.now(UTC))
        self._next += self.step
        return at.astimezone(CST)


def parse_clock(spec: str, speedup: float | None = None) -> SimClock:
    """``now``, ``<ISO start>`` or ``<ISO start>*<factor>`` (``--speedup`` also sets the factor)."""
    spec = spec.strip()
    if spec.lower() == "now":
        if speedup not in (None, 1, 1.0):
            raise ValueError("a speed-up needs a start in the past, e.g. --clock 2025-11-01T00:00+08:00*60")
        return SimClock()
    start_text, _, factor_text = spec.partition("*")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError as exc:
        raise ValueError(f"--clock: {start_text!r} is neither 'now' nor an ISO timestamp") from exc
    if start.tzinfo is None:
        start = start.replace(tzinfo=CST)  # a bare wall-clock time is the province's local time
    factor = float(factor_text) if factor_text else (speedup or 1.0)
    return SimClock(start, factor)
