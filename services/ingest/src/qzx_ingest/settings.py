from __future__ import annotations

from functools import lru_cache

from qzx_common.settings import CommonSettings


class IngestSettings(CommonSettings):
    host: str = "127.0.0.1"
    ingest_port: int = 8001
    # Largest accepted HTTP body (the exchange's 1,000 events stay well inside it).
    max_body_bytes: int = 4 * 1024 * 1024


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
