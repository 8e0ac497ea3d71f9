from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from qzx_common.settings import CommonSettings


class AlertsSettings(CommonSettings):
    host: str = Field(default="127.0.0.1", description="Address the HTTP listener binds.")
    alerts_port: int = Field(default=8002, description="alerts' HTTP port.")
    rules_path: str | None = Field(
        default=None,
        description="Scoring rules (weights, grades, floors, deadlines, windows): a TOML file in place "
        "of the versioned one shipped in the package.",
    )
    sse_poll_s: float = Field(
        default=1.0,
        description="How often a quiet SSE stream re-checks the database (other replicas' changes also "
        "arrive by LISTEN/NOTIFY).",
    )
    sse_heartbeat_s: float = Field(default=15.0, description="Keep-alive comment interval on an SSE stream.")
    sse_max_streams: int = Field(
        default=1000,
        ge=1,
        description="SSE streams one process holds at once; one more is answered 503 over_capacity with "
        "Retry-After.",
    )
    sse_retry_after_s: int = Field(
        default=5, ge=1, description="The Retry-After (seconds) of a stream refused over the cap."
    )
    hazard_cache_s: float = Field(
        default=5.0,
        description="Hazard points are held in memory and re-read this often (local writes refresh at once).",
    )
    change_log_retention_h: float = Field(
        default=72.0,
        description="Hours the change log (SSE resume, the exchange change feed, alerts.v1's outbox) "
        "keeps published alert states; a client resuming from further back gets what is left.",
    )
    hotlist_follow_s: float = Field(
        default=1.0,
        gt=0,
        description="How often the checkpoint matcher's in-memory hotlist index reads the changed entries.",
    )
    passage_plates_per_partition: int = Field(
        default=5_000_000,
        ge=1,
        description="Plates whose last sighting the checkpoint matcher keeps per partition of "
        "passages.accepted.v1 for clone detection (the least recently seen go first).",
    )
    passage_snapshot_dir: str = Field(
        default="",
        description="Directory the checkpoint matcher writes each partition's last sightings to "
        "(decision 0020): a restart, or a partition moved to this process, loads its snapshot and "
        "replays only the records after it. Processes of one group share it (a shared volume) for "
        "moved partitions to find theirs. Empty: no snapshots, the clone window is replayed.",
    )
    passage_snapshot_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often each partition's last sightings are written to their snapshot; a "
        "restart replays at most about this much of passages.accepted.v1.",
    )

    hazard_overdue_check_s: float = Field(
        default=60.0,
        gt=0,
        description="How often the overdue check puts hazards past their rectification deadline under "
        "supervision (挂牌督办); every replica runs it, each hazard is escalated once.",
    )

    rollup_fold_s: float = Field(
        default=10.0,
        gt=0,
        description="How often the report rollups' fresh rows are folded into one row per key; every "
        "replica tries, one folds at a time. Reports read both, so this bounds the rows they sum.",
    )


@lru_cache
def get_settings() -> AlertsSettings:
    return AlertsSettings()
