"""pytest plugin: the real stack for integration tests.

With QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP unset, one embedded PostgreSQL and one embedded broker
are started per test session on free ports; with them set, those servers are used. Either way the
session gets a fresh database and a unique topic prefix, so runs never see each other's data.
Services under test connect as the restricted service role and migrate as the database's owner,
as `make run` does (``Stack.db_settings``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from qzx_dev.embedded import (
    SERVICE_ROLE,
    as_role,
    create_database,
    create_service_role,
    drop_database,
    free_port,
    start_broker,
    start_postgres,
)


def pytest_configure(config: pytest.Config) -> None:
    """Tests run with the development secret (and start services as subprocesses with it)."""
    os.environ.setdefault("QZX_DEV_MODE", "1")


@dataclass(frozen=True)
class Stack:
    server_url: str  # a maintenance database on the server
    database_url: str  # this session's own database, as its owner (migrations, test set-up)
    bootstrap: str
    topic_prefix: str
    # The role services connect as; None when the server would not let us create it (the reason
    # in no_service_role): services then run as the owner.
    service_role: str | None = None
    no_service_role: str = ""

    def service_url(self, database_url: str | None = None) -> str:
        """``database_url`` (this session's database by default) as the services connect to it."""
        url = database_url or self.database_url
        return as_role(url, self.service_role) if self.service_role else url

    def db_settings(self, database_url: str | None = None) -> dict[str, str]:
        """Settings for a service under test: connect as the service role, migrate as the owner."""
        owner = database_url or self.database_url
        return {"database_url": self.service_url(owner), "migrate_database_url": owner}

    def isolated(self, name: str) -> Stack:
        """The same servers and database with topics of its own: a test package overrides its
        ``stack`` fixture with this so that other packages' messages never reach its consumers."""
        return replace(self, topic_prefix=f"{self.topic_prefix}{name}.")

    def env(self) -> dict[str, str]:
        return {
            "QZX_DATABASE_URL": self.service_url(),
            "QZX_MIGRATE_DATABASE_URL": self.database_url,
            "QZX_KAFKA_BOOTSTRAP": self.bootstrap,
            "QZX_TOPIC_PREFIX": self.topic_prefix,
        }


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    state = Path(tempfile.mkdtemp(prefix="qzx-test-"))
    started: list[Any] = []
    try:
        server_url = os.environ.get("QZX_DATABASE_URL")
        if not server_url:
            pg = start_postgres(data_dir=state / "pg", port=free_port(), log_path=state / "pg.log", fast=True)
            started.append(pg)
            server_url = pg.url()
        bootstrap = os.environ.get("QZX_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = start_broker(port=free_port(), log_path=state / "broker.log")
            started.append(broker)
            bootstrap = broker.bootstrap
        role, no_role = _service_role(server_url)
        name = f"qzx_test_{uuid.uuid4().hex[:10]}"
        database_url = create_database(server_url, name)
        yield Stack(server_url, database_url, bootstrap, f"t{uuid.uuid4().hex[:8]}.", role, no_role)
        drop_database(server_url, name)
    finally:
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(state, ignore_errors=True)


def _service_role(server_url: str) -> tuple[str | None, str]:
    try:
        create_service_role(server_url)
    except Exception as exc:  # a server where we may not create roles: run the services as owner
        return None, f"cannot create the service role {SERVICE_ROLE}: {exc}"
    return SERVICE_ROLE, ""


@pytest.fixture(scope="session")
def stack_env(stack: Stack) -> Iterator[dict[str, str]]:
    """Point this process's settings at the test stack."""
    saved = {k: os.environ.get(k) for k in stack.env()}
    os.environ.update(stack.env())
    yield stack.env()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
async def producer(stack: Stack) -> AsyncIterator[Any]:
    from aiokafka import AIOKafkaProducer

    from qzx_common.kafka.admin import ensure_topics

    await ensure_topics(stack.bootstrap, prefix=stack.topic_prefix)
    p = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, linger_ms=2)
    await p.start()
    yield p
    await p.stop()


@asynccontextmanager
async def serve(app: Any, *, lifespan: Literal["on", "off"] = "on") -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 until the block ends; yields its URL.
    ``lifespan="off"`` for an app whose lifespan already runs (a session's app)."""
    import uvicorn

    port = free_port()
    # As qzx_common.web.serve runs every app: no X-Forwarded-For is believed by the server itself.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan, proxy_headers=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # surfaces why it did not start
                await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def eventually(check: Any, *, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll an async ``check`` until it returns a truthy value (or raise with its last value)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def read_topic(bootstrap: str, topic: str, *, want: int, timeout: float = 15.0) -> list[Any]:
    """Every record of ``topic`` from its start, once at least ``want`` have arrived and nothing more
    came for a moment after (so that a test also sees what it must not have got)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"probe-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    seen: list[Any] = []
    try:

        async def enough() -> bool:
            batches = await consumer.getmany(timeout_ms=200)
            seen.extend(r for rs in batches.values() for r in rs)
            return len(seen) >= want

        await eventually(enough, timeout=timeout, interval=0)
        await asyncio.sleep(0.3)
        batches = await consumer.getmany(timeout_ms=300)
        seen.extend(r for rs in batches.values() for r in rs)
    finally:
        await consumer.stop()
    return seen


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the real stack (directly or through another fixture) is a ``db``
    test, so ``make test-db`` reruns exactly those against another PostgreSQL."""
    for item in items:
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
