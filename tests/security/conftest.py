"""Cross-service security tests: the real apps on the real embedded Postgres and broker.

Apps run in-process (httpx ASGI transport) without their consumers, so they never join the
consumer groups of the services' own test suites; exchange batches are followed to the topic.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from qzx_common.web.exchange import ExchangeAuth
from qzx_dev.embedded import free_port
from qzx_dev.testing import Stack

sys.path.insert(0, str(Path(__file__).parent))  # sec_support, shared with the test modules

from sec_support import PARTNERS, client_for, common_settings


# Package scope: the apps' connection pools close when this folder's tests are done, so that the
# later tests' services fit in a server's default 100 connections (CI's PostgreSQL 15).
@pytest.fixture(scope="package")
async def ingest_app(stack: Stack) -> AsyncIterator[Any]:
    from qzx_ingest.main import create_app
    from qzx_ingest.settings import IngestSettings

    app = create_app(IngestSettings(**common_settings(stack)), consume=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="package")
async def ingest(ingest_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(ingest_app) as c:
        yield c


@pytest.fixture(scope="package")
def partner() -> Callable[[str], ExchangeAuth]:
    return lambda key_id: ExchangeAuth(key_id, PARTNERS[key_id]["secret"])


@pytest.fixture(scope="package")
async def alerts_app(stack: Stack) -> AsyncIterator[Any]:
    from qzx_alerts.main import create_app
    from qzx_alerts.settings import AlertsSettings

    app = create_app(AlertsSettings(**common_settings(stack)), consume=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="package")
async def dispatch_app(stack: Stack) -> AsyncIterator[Any]:
    from qzx_dispatch.main import create_app
    from qzx_dispatch.settings import DispatchSettings

    # No deadline watcher: it would hand alerts left pending by other tests to the units these
    # tests build (dispatch's own suite drives the watcher with a manual clock).
    app = create_app(DispatchSettings(**common_settings(stack)), consume=False, watch=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="package")
async def alerts_http(alerts_app: Any) -> AsyncIterator[str]:
    """The alerts app behind a real HTTP server in this event loop (SSE needs a streaming transport)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(alerts_app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for this)
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    await task


SERVICES = ("ingest", "alerts", "dispatch")


@pytest.fixture(params=SERVICES)
def service_app(request: pytest.FixtureRequest) -> Any:
    """Each service's app in turn (tests over "every route of every service")."""
    return request.getfixturevalue(f"{request.param}_app")
