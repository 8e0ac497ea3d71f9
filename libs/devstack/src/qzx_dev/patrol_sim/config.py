from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DISPATCH_URL = "http://127.0.0.1:8003"


@dataclass(frozen=True)
class SimConfig:
    secret: str
    dispatch_url: str = DEFAULT_DISPATCH_URL
    units: int | None = None  # at most this many units (the first on-duty ones by id)
    jur: str = "37"  # only units under this admin-code prefix
    speedup: float = 1.0  # the crews' own timeline runs this much faster (sign-by stays real time)
    ignore_share: float = 0.1  # share of tasks never signed, so that escalation shows
    seed: int | None = None
    wait_s: int = 25  # long-poll hold asked of dispatch
    location_every_s: float = 15.0  # simulated seconds between position reports on the way
    rediscover_every_s: float = 60.0  # units come on and go off duty as shifts change
    progress_every_s: float = 5.0
    duration_s: float | None = None  # stop after this many seconds
