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
    # `qzx dev` only: a province commander's JWT for scripts, served by /api/dev-token (the route
    # exists only when this is set; the pages never use it, people sign in).
    console_token: str | None = None
    # The identity provider's OAuth 2.0 token endpoint (password grant) that sign-in uses:
    # `qzx dev`'s development provider, or e.g. Keycloak's
    # https://sso.example/realms/qzx/protocol/openid-connect/token.
    console_idp_token_url: str | None = None
    console_idp_client_id: str = "qzx-console"
    console_idp_client_secret: str | None = None
    console_idp_scope: str | None = None
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
