from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from qzx_common.settings import CommonSettings


class AlertsSettings(CommonSettings):
    host: str = "127.0.0.1"
    alerts_port: int = 8002
    # Scoring rules (weights, grades, floors, deadlines, windows): the versioned file shipped in the
    # package unless this points at another TOML file (QZX_RULES_PATH).
    rules_path: str | None = None
    # Seed a few hazard points and hotlist entries on startup (idempotent), for `make run`.
    demo_data: bool = False
    # SSE: how often a quiet stream re-checks the database (other replicas' changes also arrive by
    # LISTEN/NOTIFY) and how often it sends a keep-alive comment.
    sse_poll_s: float = 1.0
    sse_heartbeat_s: float = 15.0
    # Streams one process holds at most; one more is answered 503 over_capacity with Retry-After.
    sse_max_streams: int = Field(default=1000, ge=1)
    sse_retry_after_s: int = Field(default=5, ge=1)
    # Hazard points are read into memory and refreshed this often (local writes refresh at once).
    hazard_cache_s: float = 5.0
    # The change log (SSE resume, the exchange's change feed, alerts.v1's outbox) keeps published
    # states this long; a client resuming from further back gets what is left.
    change_log_retention_h: float = 72.0


@lru_cache
def get_settings() -> AlertsSettings:
    return AlertsSettings()
