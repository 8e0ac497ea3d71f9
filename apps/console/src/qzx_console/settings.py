"""Console settings, read from QZX_* environment variables (nothing is read at import time)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QZX_", extra="ignore")

    host: str = "127.0.0.1"
    console_port: int = 8000
    ingest_url: str = "http://127.0.0.1:8001"
    alerts_url: str = "http://127.0.0.1:8002"
    dispatch_url: str = "http://127.0.0.1:8003"
    # The dev console's own JWT (the launcher mints a province commander); served by /api/dev-token.
    console_token: str | None = None
    # Upstream read timeout; long-polls hold up to 30 s. Event streams have none.
    proxy_read_timeout_s: float = 65.0
    proxy_connect_timeout_s: float = 3.0
    log_level: str = "INFO"
    log_json: bool = True

    def upstreams(self) -> dict[str, str]:
        return {
            "ingest": self.ingest_url.rstrip("/"),
            "alerts": self.alerts_url.rstrip("/"),
            "dispatch": self.dispatch_url.rstrip("/"),
        }
