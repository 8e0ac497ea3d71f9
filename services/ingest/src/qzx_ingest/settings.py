from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from qzx_common.settings import CommonSettings


class IngestSettings(CommonSettings):
    host: str = Field(default="127.0.0.1", description="Address the HTTP listener binds.")
    ingest_port: int = Field(default=8001, description="ingest's HTTP port.")
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024,
        description="Largest accepted HTTP body (the exchange's 1,000 events stay well inside it).",
    )
    passage_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days of passages kept (one partition per day, China time): older partitions are "
        "dropped, older passages refused.",
    )
    passage_partitions_ahead: int = Field(
        default=2, ge=1, le=60, description="Days ahead that have a passage partition ready."
    )
    passage_maintenance_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="How often passage partitions are created and dropped (also once at start).",
    )


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
