from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from qzx_common.settings import CommonSettings


class IngestSettings(CommonSettings):
    host: str = "127.0.0.1"
    ingest_port: int = 8001
    # Largest accepted HTTP body (the exchange's 1,000 events stay well inside it).
    max_body_bytes: int = 4 * 1024 * 1024
    # Passages: one partition per day (China time); days older than the retention are dropped and
    # passages captured before it refused; partitions exist this many days ahead.
    passage_retention_days: int = Field(default=30, ge=1, le=3650)
    passage_partitions_ahead: int = Field(default=2, ge=1, le=60)
    passage_maintenance_interval_s: float = Field(default=3600.0, gt=0)


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
