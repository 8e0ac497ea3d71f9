from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from qzx_common.settings import CommonSettings


class DispatchSettings(CommonSettings):
    host: str = "127.0.0.1"
    dispatch_port: int = 8003
    # Seed the demo organisation (units on duty around the clock in every city) on startup.
    demo_data: bool = False
    # P3/P4 alerts never take the last N available units of a city.
    reserve_units: int = 2
    # Moving targets may be intercepted by units of cities whose centres lie this close.
    neighbour_km: float = 110.0
    # The deadline watcher's period (sign-by, feedback-by, pending alerts).
    deadline_tick_s: float = 1.0
    # A pending alert (no suitable unit free) is retried this often.
    pending_retry_s: float = 10.0
    # Workload = tasks a unit was given in this window (the tie-breaker after travel time).
    workload_window_h: float = 8.0
    # Long-poll: the most a patrol client may hold, and the most tasks one answer carries.
    long_poll_max_s: int = 30
    patrol_page: int = 100
    # Long-polls one process holds at most; one more is answered 503 over_capacity, Retry-After.
    long_poll_max_held: int = Field(default=10_000, ge=1)
    long_poll_retry_after_s: int = Field(default=5, ge=1)
    # Patrol Idempotency-Keys (with the responses replayed for them) are kept this long (default
    # 7 days), and every replica deletes older ones at start and then every prune period; a retry
    # after the retention runs as a new request.
    idempotency_retention_h: float = 168.0
    idempotency_prune_every_s: float = 3600.0
    # Demand from alert history: weeks looked back, and target utilisation of a unit.
    history_weeks: int = 4
    # Extra uvicorn/asyncio tuning for the many idle long-polls is not needed; keep-alive is.
    http_keepalive_s: int = 75


@lru_cache
def get_settings() -> DispatchSettings:
    return DispatchSettings()
