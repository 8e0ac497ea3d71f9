"""Console settings, read from QZX_* environment variables (nothing is read at import time)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QZX_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the console's listener binds.")
    console_port: int = Field(default=8000, description="The console's HTTP port.")
    ingest_url: str = Field(default="http://127.0.0.1:8001", description="ingest, for `/api/ingest/…`.")
    alerts_url: str = Field(default="http://127.0.0.1:8002", description="alerts, for `/api/alerts/…`.")
    dispatch_url: str = Field(default="http://127.0.0.1:8003", description="dispatch, for `/api/dispatch/…`.")
    console_token: str | None = Field(
        default=None,
        description="The development console's own JWT, served by `/api/dev-token` (`make run` mints a "
        "province commander's).",
    )
    proxy_read_timeout_s: float = Field(
        default=65.0,
        description="Upstream read timeout (long-polls hold up to 30 s; event streams have none).",
    )
    proxy_connect_timeout_s: float = Field(default=3.0, description="Upstream connect timeout.")
    log_level: str = Field(default="INFO", description="Log level.")
    log_json: bool = Field(default=True, description="Structured JSON logs on stderr (else plain text).")

    def upstreams(self) -> dict[str, str]:
        return {
            "ingest": self.ingest_url.rstrip("/"),
            "alerts": self.alerts_url.rstrip("/"),
            "dispatch": self.dispatch_url.rstrip("/"),
        }
