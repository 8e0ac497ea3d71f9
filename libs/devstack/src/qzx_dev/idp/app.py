"""The development identity provider's HTTP side (OAuth 2.0 password grant, JWKS, discovery).

POST /token   grant_type=password&username=...&password=...   → {access_token, expires_in, ...}
GET  /jwks    the public signing key (QZX_JWT_JWKS_URL of the services)
GET  /.well-known/openid-configuration
"""

from __future__ import annotations

import hmac
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from qzx_common.web.serve import serve
from qzx_dev.idp.accounts import DEV_PASSWORD, Account, all_accounts
from qzx_dev.idp.keys import load_or_create


class IdpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QZX_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address the provider's listener binds.")
    dev_idp_port: int = Field(default=8009, description="The provider's HTTP port (its JWKS at `/jwks`).")
    dev_idp_key_file: Path | None = Field(
        default=None,
        description="The RSA signing key's file, made on first start (`qzx dev`: `.state/idp/signing-key.pem`); "
        "unset, a fresh key per process.",
    )
    dev_idp_issuer: str | None = Field(
        default=None,
        description="The `iss` of the tokens it issues and the base of its discovery document: the "
        "address the services and the console reach it at (compose: `http://idp:8009`); unset, "
        "`http://127.0.0.1:<QZX_DEV_IDP_PORT>`. A service with `QZX_JWT_ISSUER` set expects the same.",
    )
    dev_password: str = Field(default=DEV_PASSWORD, description="Every development account's password.")
    dev_token_ttl_s: int = Field(default=8 * 3600, description="Lifetime of the tokens it issues.")
    log_level: str = Field(default="INFO", description="Log level.")
    log_json: bool = Field(default=True, description="Structured JSON logs on stderr (else plain text).")

    @property
    def issuer(self) -> str:
        return (self.dev_idp_issuer or f"http://127.0.0.1:{self.dev_idp_port}").rstrip("/")


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def create_app(settings: IdpSettings | None = None) -> FastAPI:
    settings = settings or IdpSettings()
    app = FastAPI(title="qzx development identity provider", docs_url=None, redoc_url=None)
    key = load_or_create(settings.dev_idp_key_file)
    accounts = all_accounts()

    def issue(account: Account) -> dict[str, object]:
        now = int(time.time())
        claims = {
            **account.claims(),
            "iss": settings.issuer,
            "iat": now,
            "exp": now + settings.dev_token_ttl_s,
            "jti": uuid.uuid4().hex,
        }
        return {
            "access_token": key.sign(claims),
            "token_type": "Bearer",
            "expires_in": settings.dev_token_ttl_s,
        }

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        # application/x-www-form-urlencoded, as OAuth 2.0 sends it (read here: no multipart package)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(errors="replace")).items()}
        username, password = form.get("username", ""), form.get("password", "")
        if form.get("grant_type") != "password":
            return _oauth_error(400, "unsupported_grant_type", "only grant_type=password is supported")
        account = accounts.get(username)
        # Compared in constant time whatever the user name, so a probe learns nothing from timing.
        good = hmac.compare_digest(password.encode(), settings.dev_password.encode())
        if account is None or not good:
            return _oauth_error(401, "invalid_grant", "用户名或密码错误 wrong user name or password")
        return JSONResponse(issue(account), headers={"Cache-Control": "no-store"})

    @app.get("/jwks")
    async def jwks() -> dict[str, object]:
        return {"keys": [key.jwk()]}

    @app.get("/.well-known/openid-configuration")
    async def discovery(request: Request) -> dict[str, object]:
        return {
            "issuer": settings.issuer,
            "token_endpoint": f"{settings.issuer}/token",
            "jwks_uri": f"{settings.issuer}/jwks",
            "grant_types_supported": ["password"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/accounts")
    async def list_accounts() -> dict[str, object]:
        """Development only: who can sign in (the password is `qzx dev`'s QZX_DEV_PASSWORD)."""
        return {"items": [{"username": a.username, "name": a.name, **a.claims()} for a in accounts.values()]}

    return app


def main() -> None:
    settings = IdpSettings()
    serve(
        lambda: create_app(settings),
        service="idp",
        host=settings.host,
        port=settings.dev_idp_port,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )
