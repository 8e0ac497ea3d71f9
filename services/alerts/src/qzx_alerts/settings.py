from __future__ import annotations

from functools import lru_cache

from qzx_common.settings import CommonSettings


class AlertsSettings(CommonSettings):
    host: str = "127.0.0.1"
    alerts_port: int = 8002


@lru_cache
def get_settings() -> AlertsSettings:
    return AlertsSettings()
