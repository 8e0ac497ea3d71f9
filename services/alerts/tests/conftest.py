from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from qzx_alerts.main import create_app
from qzx_alerts.scoring.service import BatchResult, apply_violation_batch
from qzx_alerts.settings import AlertsSettings
from qzx_common.contracts.events import ViolationEvent
from qzx_common.topics import DISPATCH_TASKS, VIOLATIONS_ACCEPTED
from qzx_common.web.auth import mint_token
from qzx_dev.embedded import free_port
from qzx_dev.samples import make_event
from qzx_dev.testing import Stack

_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def new_plate(letter: str = "A") -> str:
    """A fresh plate per test, so that tests sharing the session's database never meet."""
    return f"鲁{letter}" + "".join(random.choices(_PLATE_CHARS, k=5))


def accepted(**overrides: Any) -> bytes:
    """An event as ingest forwards it on violations.accepted.v1 (validated, normalised)."""
    return ViolationEvent.model_validate(make_event(**overrides)).model_dump_json(exclude_none=True).encode()


def new_road() -> str:
    return "T" + "".join(random.choices(string.ascii_uppercase, k=8))


class Make:
    """Test-data helpers, as a fixture (test modules cannot import conftest under importlib mode)."""

    plate = staticmethod(new_plate)
    road = staticmethod(new_road)
    accepted = staticmethod(accepted)


@pytest.fixture(scope="session")
def stack(stack: Stack) -> Stack:
    """alerts's own topics: other packages' messages never reach this package's consumers."""
    return stack.isolated("alerts")


@pytest.fixture(scope="session")
def make() -> type[Make]:
    return Make


@pytest.fixture(scope="session")
def alerts_settings(stack: Stack) -> AlertsSettings:
    return AlertsSettings(
        **stack.db_settings(),
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        log_json=False,
        sse_poll_s=0.5,
        sse_heartbeat_s=1.0,
    )


@pytest.fixture(scope="session")
async def alerts(alerts_settings: AlertsSettings) -> AsyncIterator[Any]:
    """The alerts app with both consumers running, in this event loop."""
    app = create_app(alerts_settings)
    async with app.router.lifespan_context(app):
        yield app


def token(
    settings: AlertsSettings, *, role: str = "province_commander", jur: str = "37", sub: str = "p-1"
) -> str:
    unit = "U-1" if role in ("patrol_officer", "auxiliary_officer") else None
    return mint_token(secret=settings.jwt_secret, sub=sub, role=role, jur=jur, unit_id=unit)


@pytest.fixture(scope="session")
def client_for(alerts: Any, alerts_settings: AlertsSettings) -> Callable[..., httpx.AsyncClient]:
    def make(role: str = "province_commander", jur: str = "37", sub: str = "p-1") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=alerts),
            base_url="http://alerts",
            headers={"Authorization": f"Bearer {token(alerts_settings, role=role, jur=jur, sub=sub)}"},
            timeout=30,
        )

    return make


@pytest.fixture(scope="session")
async def client(client_for: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for() as c:
        yield c


@pytest.fixture(scope="session")
async def server(alerts: Any) -> AsyncIterator[str]:
    """The same app behind a real HTTP server (SSE needs a streaming transport)."""
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(alerts, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(srv.serve())
    while not srv.started:  # noqa: ASYNC110 (uvicorn offers no event for this)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task


@pytest.fixture(scope="session")
def score(alerts: Any) -> Callable[[list[bytes]], Awaitable[BatchResult]]:
    """Score accepted events (bytes) in one transaction, as the consumer does a batch."""

    async def go(values: list[bytes]) -> BatchResult:
        s = alerts.state.service.scoring
        async with alerts.state.runtime.engine.begin() as conn:
            return await apply_violation_batch(conn, values=values, rules=s.rules, hazards=s.hazards)

    return go


@pytest.fixture(scope="session")
def send(stack: Stack, producer: Any) -> Callable[..., Any]:
    """Produce accepted events (bytes) to violations.accepted.v1, keyed like ingest does."""

    async def go(*values: bytes) -> None:
        for v in values:
            e = orjson.loads(v)
            key = (e.get("plate") or e["device_id"]).encode()
            await producer.send(stack.topic_prefix + VIOLATIONS_ACCEPTED, v, key=key)
        await producer.flush()

    return go


@pytest.fixture(scope="session")
def send_task(stack: Stack, producer: Any) -> Callable[..., Any]:
    async def go(*tasks: dict[str, Any]) -> None:
        for t in tasks:
            await producer.send(stack.topic_prefix + DISPATCH_TASKS, orjson.dumps(t), key=t["id"].encode())
        await producer.flush()

    return go


async def read_sse(
    base_url: str,
    bearer: str,
    *,
    until: Callable[[list[tuple[int, dict[str, Any]]]], bool],
    last_event_id: int | None = None,
    timeout: float = 10.0,
    started: asyncio.Event | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Read `alert` events from the SSE stream until ``until(events)`` holds."""
    headers = {"Authorization": f"Bearer {bearer}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    events: list[tuple[int, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=timeout) as c,
        c.stream("GET", "/v1/alerts/stream", headers=headers) as r,
    ):
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in r.aiter_lines():
                if started is not None:
                    started.set()
                if line:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
                    continue
                if fields.get("event") == "alert":
                    events.append((int(fields["id"]), orjson.loads(fields["data"])))
                    if until(events):
                        return events
                fields = {}
    return events


@pytest.fixture(scope="session")
def sse() -> Callable[..., Any]:
    return read_sse


@pytest.fixture(scope="session")
async def warm(alerts: Any, send: Callable[..., Any], client: httpx.AsyncClient) -> None:
    """Wait until the consumer group has its partitions (the first join takes seconds), so that
    latency checks measure the pipeline, not the broker's group join."""
    from qzx_dev.testing import eventually

    plate = new_plate("W")
    await send(accepted(plate=plate))

    async def seen() -> bool:
        r = await client.get("/v1/alerts", params={"plate": plate})
        return bool(r.json()["items"])

    await eventually(seen, timeout=60)


@pytest.fixture(scope="session")
def bearer(alerts_settings: AlertsSettings) -> Callable[..., str]:
    def make(role: str = "province_commander", jur: str = "37", sub: str = "p-1") -> str:
        return token(alerts_settings, role=role, jur=jur, sub=sub)

    return make
