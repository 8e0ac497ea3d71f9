from __future__ import annotations

from functools import lru_cache

from qzx_common.settings import CommonSettings


class DispatchSettings(CommonSettings):
    host: str = "127.0.0.1"
    dispatch_port: int = 8003


@lru_cache
def get_settings() -> DispatchSettings:
    return DispatchSettings()
