"""Token verification: every refusal has its own code; RS256 keys come from a real JWKS server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from qzx_common.settings import CommonSettings
from qzx_common.web.auth import CurrentPrincipal, Role, TokenVerifier, decode_token, mint_token
from qzx_common.web.errors import ApiError, Unauthorized, install_error_handlers

SECRET = "unit-test-secret-0123456789-0123456789"


def _claims(**over: Any) -> dict[str, Any]:
    base = {"sub": "p-1", "role": "dispatcher", "jur": "3702", "exp": int(time.time()) + 3600, "jti": "j-1"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def _code(token: str, verifier: TokenVerifier | None = None) -> str:
    import asyncio

    verifier = verifier or TokenVerifier(secret=SECRET, province="37")
    with pytest.raises(ApiError) as info:
        asyncio.run(verifier.verify(token))
    return info.value.code


def test_minted_token_round_trips_with_a_jti() -> None:
    token = mint_token(secret=SECRET, sub="o-7", role="patrol_officer", jur="370202", unit_id="U-1")
    principal = decode_token(token, secret=SECRET, province="37")
    assert (principal.sub, principal.role, principal.jur, principal.unit_id) == (
        "o-7",
        Role.patrol_officer,
        "370202",
        "U-1",
    )
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["jti"]


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256"), "token_expired"),
        (jwt.encode(_claims(nbf=int(time.time()) + 3600), SECRET, algorithm="HS256"), "token_not_yet_valid"),
        (
            jwt.encode(_claims(), "another-secret-entirely-xx-0123456789", algorithm="HS256"),
            "invalid_signature",
        ),
        (jwt.encode(_claims(), SECRET, algorithm="HS512"), "invalid_algorithm"),
        (jwt.encode(_claims(), None, algorithm="none"), "invalid_algorithm"),
        (jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"), "invalid_claims"),
        (jwt.encode(_claims(sub=None), SECRET, algorithm="HS256"), "invalid_claims"),
        (jwt.encode(_claims(role="mayor"), SECRET, algorithm="HS256"), "invalid_claims"),
        (jwt.encode(_claims(jur="37x"), SECRET, algorithm="HS256"), "invalid_claims"),
        (jwt.encode(_claims(jur=37), SECRET, algorithm="HS256"), "invalid_claims"),
        (jwt.encode(_claims(role="auxiliary_officer"), SECRET, algorithm="HS256"), "invalid_claims"),
        (jwt.encode(_claims(sub="x" * 129), SECRET, algorithm="HS256"), "invalid_claims"),
        ("not-a-jwt", "malformed_token"),
        ("a.b.c", "malformed_token"),
    ],
)
def test_each_bad_token_gets_its_own_code(token: str, code: str) -> None:
    assert _code(token) == code


@pytest.mark.parametrize(
    "jur",
    [
        "３７",  # full-width digits (str.isdigit() accepts them)
        "37٠١",  # Arabic-Indic digits
        "11",  # another province: not province-wide here
        "1101",
        "371",  # no admin level has 3, 5, 7, 8, 10 or 11 digits
        "37010",
        "3701021",
        "3701020010011",
        "",
        " 37",
    ],
)
def test_a_jur_outside_the_province_or_of_no_level_is_refused(jur: str) -> None:
    assert _code(jwt.encode(_claims(jur=jur), SECRET, algorithm="HS256")) == "invalid_claims"


@pytest.mark.parametrize("jur", ["37", "3702", "370202", "370202001", "370202001001"])
def test_every_level_of_the_province_is_a_jur(jur: str) -> None:
    token = mint_token(secret=SECRET, sub="p", role="auditor", jur=jur)
    principal = decode_token(token, secret=SECRET, province="37")
    assert principal.jur == jur
    assert principal.covers_province == (jur == "37")


def test_the_province_is_configuration() -> None:
    token = mint_token(secret=SECRET, sub="p", role="auditor", jur="11")
    assert decode_token(token, secret=SECRET, province="11").covers_province
    shandong = mint_token(secret=SECRET, sub="p", role="auditor", jur="37")
    with pytest.raises(Unauthorized):
        decode_token(shandong, secret=SECRET, province="11")
    with pytest.raises(ValueError, match="QZX_PROVINCE_CODE"):
        CommonSettings(province_code="３７")


def test_audience_and_issuer_are_checked_when_configured() -> None:
    verifier = TokenVerifier(secret=SECRET, province="37", audience="qzx", issuer="https://idp/realms/police")
    good = _claims(aud="qzx", iss="https://idp/realms/police")
    import asyncio

    assert asyncio.run(verifier.verify(jwt.encode(good, SECRET, algorithm="HS256")))[0].sub == "p-1"
    assert (
        _code(jwt.encode(good | {"aud": "other"}, SECRET, algorithm="HS256"), verifier) == "invalid_audience"
    )
    assert (
        _code(jwt.encode(good | {"iss": "https://evil"}, SECRET, algorithm="HS256"), verifier)
        == "invalid_issuer"
    )


# --- RS256 from a JWKS URL ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def idp() -> Iterator[tuple[str, Any]]:
    """A real HTTP server publishing one RSA public key, like an identity provider's JWKS."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/certs", key
    server.shutdown()


def test_rs256_tokens_verify_against_the_jwks_and_hs256_is_refused(idp: tuple[str, Any]) -> None:
    import asyncio

    url, key = idp
    verifier = TokenVerifier(secret=SECRET, province="37", jwks_url=url)
    token = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
    principal, claims = asyncio.run(verifier.verify(token))
    assert principal.role is Role.dispatcher and claims["jti"] == "j-1"

    # A development token is worthless once a JWKS is configured (no algorithm confusion).
    assert _code(jwt.encode(_claims(), SECRET, algorithm="HS256", headers={"kid": "k1"}), verifier) == (
        "invalid_algorithm"
    )
    assert _code(jwt.encode(_claims(), SECRET, algorithm="HS256"), verifier) == "unknown_signing_key"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "k1"})
    assert _code(forged, verifier) == "invalid_signature"
    assert _code(jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k9"}), verifier) == (
        "unknown_signing_key"
    )


def test_unreachable_identity_provider_is_a_503() -> None:
    import asyncio

    verifier = TokenVerifier(secret=SECRET, province="37", jwks_url="http://127.0.0.1:9/certs")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ApiError) as info:
        asyncio.run(verifier.verify(jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})))
    assert (info.value.status_code, info.value.code) == (503, "identity_provider_unavailable")


# --- the dependency: header parsing and throttling ---------------------------------------------


def _app(**settings: Any) -> FastAPI:
    app = FastAPI()
    app.state.settings = CommonSettings(jwt_secret=SECRET, **settings)
    install_error_handlers(app)

    @app.get("/v1/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.sub}

    return app


async def test_missing_and_malformed_headers() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as c:
        r = await c.get("/v1/me")
        assert (r.status_code, r.json()["error"]) == (401, "missing_token")
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = await c.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert (r.status_code, r.json()["error"]) == (401, "malformed_token")
        token = mint_token(secret=SECRET, sub="d-1", role="dispatcher", jur="3702")
        r = await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == {"sub": "d-1"}


async def test_repeated_failures_from_one_address_are_throttled_but_valid_tokens_pass() -> None:
    app = _app(auth_failure_burst=5, auth_failure_refill_per_s=0.01)
    good = {"Authorization": "Bearer " + mint_token(secret=SECRET, sub="d-1", role="dispatcher", jur="3702")}
    other = httpx.ASGITransport(app=app, client=("10.0.0.9", 1234))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        httpx.AsyncClient(transport=other, base_url="http://t") as bystander,
    ):
        bad = {"Authorization": "Bearer x.y.z"}
        failures, throttled = _counted("malformed_token"), _counted()
        codes = [(await c.get("/v1/me", headers=bad)).status_code for _ in range(5)]
        assert codes == [401] * 5
        r = await c.get("/v1/me", headers=bad)
        assert r.status_code == 429 and r.json()["error"] == "too_many_auth_failures"
        assert (_counted("malformed_token") - failures, _counted() - throttled) == (6, 1)  # qzx_auth_*
        assert int(r.headers["retry-after"]) >= 1
        assert (await c.get("/v1/me", headers=good)).status_code == 200  # only failures are refused
        assert (await bystander.get("/v1/me", headers=bad)).status_code == 401


def _counted(reason: str | None = None) -> float:
    """qzx_auth_failures_total for ``reason``, or qzx_auth_throttled_total."""
    if reason is None:
        return REGISTRY.get_sample_value("qzx_auth_throttled_total") or 0.0
    return REGISTRY.get_sample_value("qzx_auth_failures_total", {"reason": reason}) or 0.0
