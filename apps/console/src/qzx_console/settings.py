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
        description="`make run` only: a province commander's JWT for scripts, served by `/api/dev-token` "
        "(the route exists only when this is set; the pages never use it, people sign in).",
    )
    console_idp_token_url: str | None = Field(
        default=None,
        description="The identity provider's OAuth 2.0 token endpoint (password grant) sign-in uses: "
        "`make run`'s development provider, or e.g. Keycloak's "
        "`https://sso.example/realms/qzx/protocol/openid-connect/token`.",
    )
    console_idp_client_id: str = Field(
        default="qzx-console", description="The console's client id at the provider."
    )
    console_idp_client_secret: str | None = Field(
        default=None, description="The console's client secret at the provider (a confidential client)."
    )
    console_idp_scope: str | None = Field(default=None, description="Scopes asked for at sign-in.")
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
