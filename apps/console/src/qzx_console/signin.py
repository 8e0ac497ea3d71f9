"""Sign-in: the console hands the person's user name and password to the identity provider's
token endpoint (OAuth 2.0 password grant: `qzx dev`'s provider, or Keycloak's
``/realms/<realm>/protocol/openid-connect/token``) and gives the page the token it signed in for.
The page keeps it in its session storage; nothing here stores or serves anyone's token."""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from qzx_common.web.errors import error_body

log = logging.getLogger(__name__)
router = APIRouter(prefix="/auth", include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


@router.post("/sign-in")
async def sign_in(body: SignIn, request: Request) -> JSONResponse:
    settings = request.app.state.settings
    if not settings.console_idp_token_url:
        return JSONResponse(
            error_body("no_identity_provider", "未配置身份提供方 QZX_CONSOLE_IDP_TOKEN_URL is not set"),
            status_code=503,
        )
    form = {"grant_type": "password", "username": body.username, "password": body.password}
    form["client_id"] = settings.console_idp_client_id
    if settings.console_idp_client_secret:
        form["client_secret"] = settings.console_idp_client_secret
    if settings.console_idp_scope:
        form["scope"] = settings.console_idp_scope
    client: httpx.AsyncClient = request.app.state.http
    try:
        r = await client.post(
            settings.console_idp_token_url, data=form, timeout=settings.proxy_connect_timeout_s * 3
        )
    except httpx.HTTPError as exc:
        log.warning("identity provider at %s did not answer: %s", settings.console_idp_token_url, exc)
        return JSONResponse(
            error_body(
                "identity_provider_unavailable", "身份提供方无响应 the identity provider did not answer"
            ),
            status_code=503,
        )
    if r.status_code in (400, 401):
        return JSONResponse(
            error_body("invalid_credentials", "用户名或密码错误 wrong user name or password"),
            status_code=401,
            headers=NO_STORE,
        )
    if r.status_code != 200 or "access_token" not in (reply := r.json()):
        log.warning("identity provider answered %s: %s", r.status_code, r.text[:300])
        return JSONResponse(
            error_body(
                "identity_provider_error", f"身份提供方错误 the identity provider answered {r.status_code}"
            ),
            status_code=502,
        )
    return JSONResponse(
        {"token": reply["access_token"], "expires_in": reply.get("expires_in")}, headers=NO_STORE
    )
