from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from qzx_common.settings import CommonSettings


class DispatchSettings(CommonSettings):
    host: str = Field(default="127.0.0.1", description="Address the HTTP listener binds.")
    dispatch_port: int = Field(default=8003, description="dispatch's HTTP port.")
    reserve_units: int = Field(
        default=2, description="P3/P4 alerts never take the last N available units of a city."
    )
    neighbour_km: float = Field(
        default=110.0,
        description="Moving targets may be intercepted by units of cities whose centres lie this close.",
    )
    deadline_tick_s: float = Field(
        default=1.0, description="The deadline watcher's period (sign-by, feedback-by, pending alerts)."
    )
    pending_retry_s: float = Field(
        default=10.0, description="A pending alert (no suitable unit free) is retried this often."
    )
    preempt: bool = Field(
        default=True,
        description="A P1 alert that no free unit can take takes the best unit holding a lower-priority "
        "task (not one on scene); the displaced task is cancelled and its alert re-queued.",
    )
    preempt_p2: bool = Field(default=False, description="P2 alerts pre-empt lower-priority tasks too.")
    escalate_p1_wait_s: float = Field(
        default=120.0,
        gt=0,
        description="A P1 alert waiting this many seconds for a unit raises a `p1_waiting` escalation "
        "(once per wait).",
    )
    escalation_webhook_url: str | None = Field(
        default=None,
        description="Where escalations are POSTed (an SMS or radio gateway), signed with "
        "`QZX_ESCALATION_WEBHOOK_SECRET`; unset: no webhook.",
    )
    escalation_webhook_secret: str = Field(
        default="",
        description="The HMAC-SHA256 key of the escalation webhook's `X-Qzx-Signature`.",
    )
    escalation_webhook_attempts: int = Field(
        default=8, ge=1, description="Attempts of one escalation's webhook delivery before it is dead."
    )
    escalation_webhook_backoff_s: float = Field(
        default=2.0,
        gt=0,
        description="The first retry's delay (seconds); it doubles on each further retry, at most 600 s.",
    )
    escalation_webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook POST (seconds)."
    )
    workload_window_h: float = Field(
        default=8.0,
        description="A unit's workload is the tasks it was given in this window (the tie-breaker after "
        "travel time).",
    )
    long_poll_max_s: int = Field(default=30, description="The longest a patrol client's long-poll may wait.")
    patrol_page: int = Field(default=100, description="The most tasks one long-poll answer carries.")
    long_poll_max_held: int = Field(
        default=10_000,
        ge=1,
        description="Long-polls one process holds at once; one more is answered 503 over_capacity "
        "with Retry-After.",
    )
    long_poll_retry_after_s: int = Field(
        default=5, ge=1, description="The Retry-After (seconds) of a long-poll refused over the cap."
    )
    idempotency_retention_h: float = Field(
        default=168.0,
        description="Hours patrol `Idempotency-Key`s (with their responses) are kept; a retry after "
        "that runs as a new request.",
    )
    idempotency_prune_every_s: float = Field(
        default=3600.0,
        description="How often each replica deletes expired idempotency keys (also once at start).",
    )
    shared_credential_window_s: float = Field(
        default=300.0,
        gt=0,
        description="A patrol officer acting from a second device (`X-Device-Id`) less than this many "
        "seconds after the first one acted is recorded as a shared credential (`two_devices`).",
    )
    history_weeks: int = Field(
        default=4, description="Weeks of alert history the demand estimate looks back."
    )
    demand_violation_weight: float = Field(
        default=1.0, ge=0, description="Weight of the violation load (alerts) in a shift plan's demand."
    )
    demand_accident_weight: float = Field(
        default=1.0, ge=0, description="Weight of the accident risk in a shift plan's demand."
    )
    accident_unit_hours: dict[str, float] = Field(
        default={"property_only": 0.5, "injury": 1.5, "fatal": 3.0},
        description="Unit-hours of presence one past accident of each severity asks for at the same hour "
        "of the week (JSON object, severity → hours).",
    )
    rural_peak_hours: list[int] = Field(
        default=[6, 7, 17, 18],
        description="Local hours of the rural commute peaks (workers' and farmers' early and evening "
        "travel), JSON list.",
    )
    rural_peak_factor: float = Field(
        default=1.5, ge=0, description="Multiplier on a rural accident's weight in the rural commute peaks."
    )
    market_days: list[int] = Field(
        default=[1, 6, 11, 16, 21, 26],
        description="Days of the month that are rural market days (集日, JSON list; [] for none): "
        "road-market accidents on them weigh on the plan's market days, by hour of day.",
    )
    http_keepalive_s: int = Field(
        default=75, description="HTTP keep-alive timeout (patrol apps reuse connections between long-polls)."
    )


@lru_cache
def get_settings() -> DispatchSettings:
    return DispatchSettings()
