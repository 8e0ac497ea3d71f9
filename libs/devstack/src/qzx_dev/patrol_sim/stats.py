"""Counters for the whole fleet and the progress line."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("qzx_dev.patrol_sim")


@dataclass
class Stats:
    units: int = 0
    seen: int = 0  # distinct tasks that reached a unit while assigned (or still active at start)
    signed: int = 0
    en_route: int = 0
    on_scene: int = 0
    resolved: int = 0
    ignored: int = 0  # left unsigned on purpose: the sign-by deadline reassigns and escalates
    lost: int = 0  # taken away (reassigned, cancelled) or refused before the crew finished
    errors: int = 0  # failed calls (each retried or given up with a log line)
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self, *, in_progress: int) -> str:
        mix = " ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"units {self.units} · tasks seen {self.seen} signed {self.signed} resolved {self.resolved}"
            f" ignored {self.ignored} lost {self.lost} · in progress {in_progress} · errors {self.errors}"
            + (f" · outcomes {mix}" if mix else "")
        )


async def report_progress(
    stats: Stats, in_progress: Callable[[], int], stop: asyncio.Event, every: float
) -> None:
    while True:
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            log.info(stats.line(in_progress=in_progress()))
