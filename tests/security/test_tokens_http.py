"""Bearer tokens over HTTP on a real service: precise 401s, revocation across replicas, the CLI."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sec_support import SECRET, bearer, client_for, common_settings, token

from qzx_common.web.revocation import revoke
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db]


async def _refusal(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, str]:
    r = await client.get("/v1/violations", headers=headers)
    return r.status_code, r.json().get("error")


async def test_each_bad_token_is_refused_with_its_code(ingest: httpx.AsyncClient) -> None:
    now = int(time.time())
    claims = {"sub": "d-1", "role": "dispatcher", "jur": "3702", "exp": now + 60}
    cases = {
        "missing_token": {},
        "malformed_token": {"Authorization": "Bearer not.a.jwt"},
        "token_expired": {"Authorization": "Bearer " + jwt.encode(claims | {"exp": now - 1}, SECRET)},
        "invalid_signature": {"Authorization": "Bearer " + jwt.encode(claims, "x" * 40)},
        "invalid_claims": {"Authorization": "Bearer " + jwt.encode(claims | {"role": "root"}, SECRET)},
        "invalid_algorithm": {"Authorization": "Bearer " + jwt.encode(claims, None, algorithm="none")},
    }
    for code, headers in cases.items():
        assert await _refusal(ingest, headers) == (401, code), code
    assert (await ingest.get("/v1/violations", headers=bearer("dispatcher"))).status_code == 200


async def test_a_revoked_token_is_refused_by_every_replica(
    ingest: httpx.AsyncClient, ingest_app: Any, stack: Stack
) -> None:
    from qzx_ingest.main import create_app
    from qzx_ingest.settings import IngestSettings

    raw = token("dispatcher", jti="revoke-me-1")
    headers = {"Authorization": f"Bearer {raw}"}
    other = create_app(IngestSettings(**common_settings(stack)), consume=False)
    async with other.router.lifespan_context(other), client_for(other) as replica:
        assert (await ingest.get("/v1/violations", headers=headers)).status_code == 200
        assert (await replica.get("/v1/violations", headers=headers)).status_code == 200
        async with ingest_app.state.runtime.engine.begin() as conn:
            await revoke(
                conn, jti="revoke-me-1", expires_at=datetime.now(UTC) + timedelta(hours=1), by="test"
            )
        await asyncio.sleep(0.3)  # both replicas re-read the deny-list every 0.2 s in these tests
        assert await _refusal(ingest, headers) == (401, "token_revoked")
        assert await _refusal(replica, headers) == (401, "token_revoked")
    # Another token of the same person still works.
    assert (await ingest.get("/v1/violations", headers=bearer("dispatcher"))).status_code == 200


def test_token_cli_mints_tokens_the_services_accept(
    capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    from qzx_common.web.auth import Role, decode_token
    from qzx_dev.tokens import main

    monkeypatch.setenv("QZX_JWT_SECRET", SECRET)
    assert (
        main(
            [
                "--role",
                "auxiliary_officer",
                "--jur",
                "370202",
                "--unit",
                "U-9",
                "--sub",
                "aux-9",
                "--ttl",
                "60",
            ]
        )
        == 0
    )
    principal = decode_token(capsys.readouterr().out.strip(), secret=SECRET, province="37")
    assert (principal.sub, principal.role, principal.jur, principal.unit_id) == (
        "aux-9",
        Role.auxiliary_officer,
        "370202",
        "U-9",
    )
    with pytest.raises(SystemExit):
        main(["--role", "patrol_officer", "--jur", "3702"])  # patrol roles need a unit


def test_token_cli_revokes(
    stack: Stack, monkeypatch: Any, capsys: pytest.CaptureFixture[str], ingest: httpx.AsyncClient
) -> None:
    import asyncpg

    from qzx_dev.tokens import main

    monkeypatch.setenv("QZX_DATABASE_URL", stack.database_url)
    exp = int(time.time()) + 600
    assert main(["--revoke", "cli-jti-1", "--until", str(exp), "--reason", "lost phone"]) == 0

    async def rows() -> list[Any]:
        conn = await asyncpg.connect(stack.database_url.replace("+asyncpg", ""))
        try:
            return await conn.fetch(
                "SELECT jti, revoked_by, reason FROM qzx_auth.revoked_tokens WHERE jti = 'cli-jti-1'"
            )
        finally:
            await conn.close()

    assert [tuple(r) for r in asyncio.run(rows())] == [("cli-jti-1", "cli:qzx-token", "lost phone")]
