"""Sign-in as a named person: the development identity provider's accounts and RS256 tokens, the
services' verifier against its JWKS, and the console's sign-in route in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest

from qzx_common.web.auth import Role, TokenVerifier, mint_token
from qzx_common.web.errors import Unauthorized
from qzx_console.main import create_app
from qzx_console.settings import ConsoleSettings
from qzx_dev.embedded import free_port
from qzx_dev.idp.accounts import DEV_PASSWORD, officers
from qzx_dev.idp.app import IdpSettings
from qzx_dev.idp.app import create_app as create_idp
from qzx_dev.testing import serve

SECRET = "a-development-secret-of-enough-length-32+"


@pytest.fixture(scope="module")
async def idp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    key_file = tmp_path_factory.mktemp("idp") / "key.pem"
    async with serve(create_idp(IdpSettings(dev_idp_key_file=key_file))) as url:
        yield url


@pytest.fixture(scope="module")
async def console_with_idp(idp: str) -> AsyncIterator[str]:
    settings = ConsoleSettings(
        console_idp_token_url=f"{idp}/token", dispatch_url=f"http://127.0.0.1:{free_port()}"
    )
    async with serve(create_app(settings)) as url:
        yield url


async def _token(idp: str, username: str, password: str = DEV_PASSWORD) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as c:
        return await c.post(
            f"{idp}/token", data={"grant_type": "password", "username": username, "password": password}
        )


def _verifier(idp: str, *, secret_too: bool = False) -> TokenVerifier:
    return TokenVerifier(secret=SECRET, province="37", jwks_url=f"{idp}/jwks", secret_too=secret_too)


async def test_a_dispatcher_signs_in_and_the_services_verifier_accepts_the_rs256_token(idp: str) -> None:
    r = await _token(idp, "dispatcher-3701")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = r.json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    principal, claims = await _verifier(idp).verify(token)
    assert (principal.sub, principal.role, principal.jur) == ("dispatcher-3701", Role.dispatcher, "3701")
    assert claims["jti"] and claims["exp"] > claims["iat"]


async def test_every_seeded_officer_signs_in_as_a_member_of_their_unit(idp: str) -> None:
    people = officers()
    assert people and all(p.unit_id for p in people)
    assert {p.role for p in people} == {Role.patrol_officer, Role.auxiliary_officer}
    aux = next(p for p in people if p.role == Role.auxiliary_officer)
    principal, _ = await _verifier(idp).verify((await _token(idp, aux.username)).json()["access_token"])
    assert (principal.sub, principal.role, principal.unit_id) == (
        aux.username,
        Role.auxiliary_officer,
        aux.unit_id,
    )


async def test_a_wrong_password_or_an_unknown_person_gets_no_token(idp: str) -> None:
    for username, password in [("dispatcher-3701", "guess"), ("nobody", DEV_PASSWORD)]:
        r = await _token(idp, username, password)
        assert r.status_code == 401 and r.json()["error"] == "invalid_grant", username
        assert "access_token" not in r.json()


async def test_a_development_hs256_token_is_refused_beside_the_jwks_outside_dev_mode(idp: str) -> None:
    hs256 = mint_token(secret=SECRET, sub="someone", role="province_commander", jur="37")
    with pytest.raises(Unauthorized) as refused:
        await _verifier(idp).verify(hs256)
    assert refused.value.code in ("unknown_signing_key", "invalid_algorithm")  # no kid: no key
    principal, _ = await _verifier(idp, secret_too=True).verify(hs256)  # QZX_DEV_MODE: both
    assert principal.sub == "someone"


async def test_a_restarted_provider_keeps_its_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    first = create_idp(IdpSettings(dev_idp_key_file=key_file))
    again = create_idp(IdpSettings(dev_idp_key_file=key_file))
    async with serve(first) as a, serve(again) as b, httpx.AsyncClient(trust_env=False) as c:
        assert (await c.get(f"{a}/jwks")).json() == (await c.get(f"{b}/jwks")).json()
    assert key_file.stat().st_mode & 0o077 == 0  # the private key is the owner's only


async def test_the_console_signs_a_person_in_through_the_provider(console_with_idp: str) -> None:
    async with httpx.AsyncClient(base_url=console_with_idp, trust_env=False) as c:
        page = await c.get("/sign-in")
        assert page.status_code == 200 and 'id="sign-in"' in page.text
        good = await c.post("/auth/sign-in", json={"username": "commander-3702", "password": DEV_PASSWORD})
        assert good.status_code == 200 and good.headers["cache-control"] == "no-store"
        claims = jwt.decode(good.json()["token"], options={"verify_signature": False})
        assert (claims["sub"], claims["role"], claims["jur"]) == ("commander-3702", "city_commander", "3702")
        bad = await c.post("/auth/sign-in", json={"username": "commander-3702", "password": "x"})
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_credentials"
        assert bad.json()["detail"].startswith("用户名或密码错误")
        assert (await c.get("/api/dev-token")).status_code == 404  # only `qzx dev` sets one


async def test_without_a_provider_sign_in_says_so() -> None:
    async with (
        serve(create_app(ConsoleSettings())) as url,
        httpx.AsyncClient(base_url=url, trust_env=False) as c,
    ):
        r = await c.post("/auth/sign-in", json={"username": "a", "password": "b"})
        assert r.status_code == 503 and r.json()["error"] == "no_identity_provider"


async def test_the_issuer_is_the_address_the_provider_is_reached_at(tmp_path: Path) -> None:
    """Under compose the services reach the provider at http://idp:8009, not 127.0.0.1: its tokens
    and discovery document name the configured issuer, which a service checking QZX_JWT_ISSUER
    accepts and a service expecting another issuer refuses."""
    settings = IdpSettings(dev_idp_key_file=tmp_path / "key.pem", dev_idp_issuer="http://idp:8009/")
    async with serve(create_idp(settings)) as url, httpx.AsyncClient(trust_env=False) as c:
        discovery = (await c.get(f"{url}/.well-known/openid-configuration")).json()
        assert (discovery["issuer"], discovery["jwks_uri"]) == ("http://idp:8009", "http://idp:8009/jwks")
        token = (await _token(url, "auditor-37")).json()["access_token"]

        def expecting(issuer: str) -> TokenVerifier:
            return TokenVerifier(secret=SECRET, province="37", jwks_url=f"{url}/jwks", issuer=issuer)

        principal, claims = await expecting("http://idp:8009").verify(token)
        assert (claims["iss"], principal.sub) == ("http://idp:8009", "auditor-37")
        with pytest.raises(Unauthorized) as refused:
            await expecting("http://127.0.0.1:8009").verify(token)
        assert refused.value.code == "invalid_issuer"
    assert IdpSettings(dev_idp_port=8123).issuer == "http://127.0.0.1:8123"  # `qzx dev`'s default
