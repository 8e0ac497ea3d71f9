"""/livez fails when a service's consumer loop has died (so Kubernetes restarts the pod), while
/healthz stays the plain "process up" answer and /readyz keeps its own checks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, text

from qzx_common.db import create_engine
from qzx_common.kafka.outbox import outbox_table
from qzx_common.runtime import Runtime
from qzx_common.settings import CommonSettings, to_asyncpg_url
from qzx_common.web.health import health_router
from qzx_dev.testing import Stack, eventually


async def get(app: FastAPI, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get(path)


async def test_livez_reports_the_failed_live_check_and_only_that() -> None:
    async def dead() -> None:
        raise RuntimeError("ingest-consumer stopped: boom")

    async def fine() -> None:
        return None

    app = FastAPI()
    app.include_router(health_router({"database": fine}, live_checks={"consumers": dead}))
    live = await get(app, "/livez")
    assert live.status_code == 503
    assert live.json() == {"error": "not_live", "detail": {"consumers": "ingest-consumer stopped: boom"}}
    assert (await get(app, "/readyz")).status_code == 200
    assert (await get(app, "/healthz")).status_code == 200

    healthy = FastAPI()
    healthy.include_router(health_router({}, live_checks={"consumers": fine}))
    assert (await get(healthy, "/livez")).json() == {"status": "live"}


async def test_livez_passes_before_the_runtime_exists() -> None:
    """During start-up (migrations, group join) only the startup probe is in charge."""
    app = FastAPI()
    app.include_router(health_router({}, live_checks=Runtime.live_checks(app)))
    assert (await get(app, "/livez")).status_code == 200


@pytest.fixture
async def schema(stack: Stack) -> AsyncIterator[str]:
    name = f"live_{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_asyncpg_url(stack.database_url))
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(outbox_table(MetaData(schema=name)).create)
    try:
        yield name
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()


@pytest.mark.db
@pytest.mark.kafka
async def test_a_dead_consumer_fails_liveness(stack: Stack, schema: str) -> None:
    settings = CommonSettings(
        database_url=stack.database_url,
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        migrate_on_start=False,
        log_json=False,
    )
    rt = await Runtime.start(settings=settings, schema=schema, migrations_dir=Path("."))
    app = FastAPI()
    app.state.runtime = rt
    app.include_router(health_router(Runtime.ready_checks(app), live_checks=Runtime.live_checks(app)))

    async def handle(batch: Any) -> None:
        return None

    try:
        assert (await get(app, "/livez")).status_code == 200
        rt.settings = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1"})  # nothing listens
        rt.consume(topics=["violations.accepted.v1"], group="live-bad", handle=handle)

        async def dead() -> bool:
            return (await get(app, "/livez")).status_code == 503

        await eventually(dead, timeout=10)
        body = (await get(app, "/livez")).json()
        assert body["error"] == "not_live" and "live-bad-consumer stopped" in body["detail"]["consumers"]
    finally:
        await rt.stop()
