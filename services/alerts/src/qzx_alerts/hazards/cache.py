"""Hazard points in memory for scoring (a small ledger, read whole), refreshed every few seconds;
this process's own writes refresh it at once."""

from __future__ import annotations

import time

import asyncpg

from qzx_alerts.hazards import repository
from qzx_alerts.scoring.domain import HazardIndex


class HazardCache:
    def __init__(self, *, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self.index = HazardIndex([])
        self.loaded_at = float("-inf")

    def invalidate(self) -> None:
        self.loaded_at = float("-inf")

    async def get(self, raw: asyncpg.Connection) -> HazardIndex:
        if time.monotonic() - self.loaded_at > self.max_age_s:
            self.index = HazardIndex(await repository.all_points(raw))
            self.loaded_at = time.monotonic()
        return self.index
