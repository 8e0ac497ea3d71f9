"""Authentication edges on the real services: the failure throttle counts failures only and
believes X-Forwarded-For only from configured proxies, exchange nonces of every allowed length
are audited without loss, and the token deny-list survives a database outage."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from sec_support import PARTNERS, bearer, client_for, common_settings, jinan_event
from sec_world import audit_rows

from qzx_common.settings import DEV_JWT_SECRET
from qzx_common.web.exchange import ExchangeAuth, sign_headers
from qzx_common.web.revocation import revoke
from qzx_common.web.serve import server_config
from qzx_dev.embedded import free_port
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db]

BAD = {"Authorization": "Bearer x.y.z"}
MINISTRY = ExchangeAuth("ministry", PARTNERS["ministry"]["secret"])


@contextlib.asynccontextmanager
async def ingest_replica(stack: Stack, **settings: Any) -> AsyncIterator[Any]:
    """Another ingest replica on the test stack, with settings of its own (no consumer)."""
    from qzx_ingest.main import create_app
    from qzx_ingest.settings import IngestSettings

    app = create_app(IngestSettings(**common_settings(stack, **settings)), consume=False)
    async with app.router.lifespan_context(app):
        yield app


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` behind uvicorn as every qzx process runs it, and a client on 127.0.0.1."""
    import uvicorn

    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=free_port(), lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for this)
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=30) as c:
            yield c
    finally:
        server.should_exit = True
        await task


async def _status(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await client.get("/v1/violations", headers=headers)).status_code


# --- the failure throttle -----------------------------------------------------------------------


async def test_a_valid_token_passes_however_many_failures_came_from_its_address(stack: Stack) -> None:
    replica = ingest_replica(stack, auth_failure_burst=3, auth_failure_refill_per_s=0.001)
    async with replica as app, client_for(app) as client:
        assert [await _status(client, BAD) for _ in range(4)] == [401, 401, 401, 429]
        assert await _status(client, bearer("dispatcher")) == 200  # a colleague behind the same NAT
        assert await _status(client, BAD) == 429


async def test_a_rotating_forwarded_for_neither_escapes_the_throttle_nor_reaches_the_audit(
    stack: Stack,
) -> None:
    async with ingest_replica(stack, auth_failure_burst=3, auth_failure_refill_per_s=0.001) as app:
        async with served(app) as client:
            codes = [await _status(client, BAD | {"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(5)]
            assert codes == [401, 401, 401, 429, 429]
            rid = uuid.uuid4().hex
            headers = {"X-Forwarded-For": "203.0.113.5", "X-Request-Id": rid}
            r = await client.post(
                "/v1/exchange/violations",
                content=orjson.dumps({"events": [jinan_event()]}),
                headers=headers | {"content-type": "application/json"},
                auth=MINISTRY,
            )
            assert r.status_code == 202, r.text
        [entry] = await audit_rows(app, "ingest", rid)
        assert entry["client_addr"] == "127.0.0.1"


async def test_a_configured_proxy_forwards_the_client_address(stack: Stack) -> None:
    async with ingest_replica(
        stack, auth_failure_burst=2, auth_failure_refill_per_s=0.001, forwarded_allow_ips="127.0.0.1"
    ) as app:
        async with client_for(app) as proxy:  # the ASGI test client's peer is 127.0.0.1
            alice, bob = {"X-Forwarded-For": "203.0.113.10"}, {"X-Forwarded-For": "203.0.113.11"}
            assert [await _status(proxy, BAD | alice) for _ in range(3)] == [401, 401, 429]
            assert await _status(proxy, BAD | bob) == 401  # someone else behind the proxy
            rid = uuid.uuid4().hex
            r = await proxy.post(
                "/v1/exchange/violations",
                content=orjson.dumps({"events": [jinan_event()]}),
                headers=alice | {"X-Request-Id": rid, "content-type": "application/json"},
                auth=MINISTRY,
            )
            assert r.status_code == 202, r.text
        [entry] = await audit_rows(app, "ingest", rid)
        assert entry["client_addr"] == "203.0.113.10"


# --- the HS256 secret ---------------------------------------------------------------------------

MANIFEST_SECRET = "CHANGE-ME"  # deploy/k8s/secret.yaml's placeholder (checked below)


@pytest.mark.parametrize(
    "secret",
    [DEV_JWT_SECRET, MANIFEST_SECRET, "kQ9v2LxT7pZ4mW8nB3cR6yH1jF5dS0a"],
    ids=["default", "manifest", "short"],
)
@pytest.mark.parametrize("service", ["ingest", "alerts", "dispatch"])
def test_a_service_refuses_to_start_with_a_published_or_short_secret(service: str, secret: str) -> None:
    main = importlib.import_module(f"qzx_{service}.main")
    settings_cls = getattr(importlib.import_module(f"qzx_{service}.settings"), f"{service.title()}Settings")
    with pytest.raises(ValueError, match="QZX_JWT_SECRET"):
        main.create_app(settings_cls(jwt_secret=secret, dev_mode=False), consume=False)
    main.create_app(settings_cls(jwt_secret=secret, dev_mode=True), consume=False)  # development
    main.create_app(settings_cls(jwt_secret="k" * 32, dev_mode=False), consume=False)


def test_the_manifest_placeholder_stops_the_process(stack: Stack) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy/k8s/overlays/production/secrets.env.example"
    assert f"QZX_JWT_SECRET={MANIFEST_SECRET}" in example.read_text()
    env = os.environ | stack.env() | {"QZX_JWT_SECRET": MANIFEST_SECRET, "QZX_DEV_MODE": "0"}
    env["QZX_INGEST_PORT"] = str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "qzx_ingest"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "QZX_JWT_SECRET" in done.stderr + done.stdout


# --- exchange nonces of every allowed length ----------------------------------------------------

LONGEST_KEY = "k" * 48  # key ids are 1-48 characters, nonces 8-128
LONGEST_NONCE = "n._-" * 32


async def test_the_longest_key_and_nonce_are_audited_and_the_batch_lands(stack: Stack) -> None:
    partners = {LONGEST_KEY: {"secret": "longest-secret-0123456789", "admin_prefix": "37"}}
    async with ingest_replica(stack, exchange_keys=orjson.dumps(partners).decode()) as app:
        async with client_for(app) as client:
            body = orjson.dumps({"events": [jinan_event()]})
            rid = uuid.uuid4().hex
            headers = sign_headers(
                key_id=LONGEST_KEY,
                secret=partners[LONGEST_KEY]["secret"],
                method="POST",
                path_with_query="/v1/exchange/violations",
                body=body,
                nonce=LONGEST_NONCE,
            )
            headers |= {"content-type": "application/json", "X-Request-Id": rid}
            r = await client.post("/v1/exchange/violations", content=body, headers=headers)
            assert (r.status_code, r.json()["accepted"]) == (202, 1), r.text
        [entry] = await audit_rows(app, "ingest", rid)
        assert entry["target_id"] == f"{LONGEST_KEY}:{LONGEST_NONCE}"


async def test_a_128_character_nonce_is_audited_on_alerts(alerts_app: Any) -> None:
    body = orjson.dumps({"entries": [{"plate": "鲁B9N128", "reason": "long nonce"}]})
    rid = uuid.uuid4().hex
    headers = sign_headers(
        key_id="ministry",
        secret=PARTNERS["ministry"]["secret"],
        method="POST",
        path_with_query="/v1/exchange/hotlists",
        body=body,
        nonce=LONGEST_NONCE[::-1],
    )
    headers |= {"content-type": "application/json", "X-Request-Id": rid}
    async with client_for(alerts_app) as client:
        r = await client.post("/v1/exchange/hotlists", content=body, headers=headers)
    assert r.status_code == 200, r.text
    [entry] = await audit_rows(alerts_app, "alerts", rid)
    assert entry["target_id"] == f"ministry:{LONGEST_NONCE[::-1]}"


# --- the deny-list during a database outage -----------------------------------------------------


class DatabaseLink:
    """A TCP relay between a service and PostgreSQL that a test can cut: ``blackhole`` accepts
    connections and never answers (a dead network path: connects hang), ``refuse`` stops listening
    (connection refused); either way the open connections are broken."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "up"
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open.add(writer)
        if self.mode == "blackhole":
            return  # held open, never answered
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.open.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def cut(self, mode: str) -> None:
        self.mode = mode
        for writer in list(self.open):
            writer.transport.abort()
        self.open.clear()
        if mode == "refuse" and self.server is not None:
            self.server.close()
            self.server = None

    async def restore(self) -> None:
        self.mode = "up"
        if self.server is None:
            await self.start()

    def url(self, database_url: str) -> str:
        parts = urlsplit(database_url)
        return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{self.port}"))


async def _probe(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[int, str]:
    """Authenticate without touching the database otherwise: a valid token gets the 422 of
    ``limit=0``, which FastAPI reports after the dependencies (authentication) have run."""
    r = await asyncio.wait_for(client.get("/v1/violations?limit=0", headers=headers), timeout=1.5)
    return r.status_code, r.json()["error"]


async def test_the_deny_list_serves_through_an_outage_for_a_bounded_time(stack: Stack) -> None:
    parts = urlsplit(stack.database_url)
    link = DatabaseLink((parts.hostname or "127.0.0.1", parts.port or 5432))
    await link.start()
    jti = f"outage-{uuid.uuid4().hex}"
    valid, revoked = bearer("dispatcher"), bearer("dispatcher", jti=jti)
    settings = {
        "database_url": link.url(stack.database_url),
        "jwt_revocation_refresh_s": 0.2,
        "jwt_revocation_max_stale_s": 2.0,
        "jwt_revocation_timeout_s": 0.3,
    }
    async with ingest_replica(stack, **settings) as app, client_for(app) as client:
        async with app.state.runtime.engine.begin() as conn:
            expires = datetime.now(UTC) + timedelta(hours=1)
            await revoke(conn, jti=jti, expires_at=expires, by="test")
        await asyncio.sleep(0.5)
        assert await _probe(client, valid) == (422, "invalid_request")
        assert await _probe(client, revoked) == (401, "token_revoked")

        await link.cut("blackhole")  # connects now hang: nobody may wait for them
        loop = asyncio.get_running_loop()
        outage = loop.time()
        while loop.time() - outage < 1.5:
            assert await _probe(client, valid) == (422, "invalid_request")
            assert await _probe(client, revoked) == (401, "token_revoked")  # the last list still holds
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)  # the list is now older than jwt_revocation_max_stale_s
        assert await _probe(client, valid) == (503, "revocation_list_unavailable")

        await link.cut("refuse")
        assert await _probe(client, valid) == (503, "revocation_list_unavailable")

        await link.restore()

        async def recovered() -> bool:
            return await _probe(client, valid) == (422, "invalid_request")

        await eventually(recovered, timeout=10)
        assert await _probe(client, revoked) == (401, "token_revoked")
    await link.cut("refuse")


# --- jurisdictions ------------------------------------------------------------------------------


@pytest.mark.parametrize("jur", ["11", "３７", "371"])
async def test_a_token_outside_the_province_reaches_nothing(ingest: httpx.AsyncClient, jur: str) -> None:
    for path in ("/v1/dlq", "/v1/violations", "/v1/audit"):
        r = await ingest.get(path, headers=bearer("province_commander", jur))
        assert (r.status_code, r.json()["error"]) == (401, "invalid_claims"), (path, r.text)


@pytest.mark.parametrize("code", ["３７０２", "37٠٢", "371", "37020"])
async def test_an_admin_code_filter_is_ascii_digits_of_a_level(alerts_app: Any, code: str) -> None:
    async with client_for(alerts_app) as alerts:
        for path in ("/v1/alerts", "/v1/reports/daily"):
            r = await alerts.get(path, params={"admin_code": code}, headers=bearer("province_commander"))
            assert (r.status_code, r.json()["error"]) == (422, "invalid_request"), (path, r.text)


@pytest.mark.parametrize("service", ["ingest", "alerts"])
def test_a_partner_outside_the_province_stops_the_service(service: str) -> None:
    main = importlib.import_module(f"qzx_{service}.main")
    settings_cls = getattr(importlib.import_module(f"qzx_{service}.settings"), f"{service.title()}Settings")
    keys = orjson.dumps({"beijing": {"secret": "beijing-secret-0123456789", "admin_prefix": "11"}}).decode()
    with pytest.raises(ValueError, match="admin_prefix"):
        main.create_app(settings_cls(exchange_keys=keys), consume=False)
