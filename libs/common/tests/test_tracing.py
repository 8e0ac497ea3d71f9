"""Tracing, switched on: one HTTP request that writes an outbox message, relayed to the real broker
and applied by a consumer, is one trace: the request's server span, its PostgreSQL spans and the
consumer's span of the batch (the trace context travels in the message headers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, text

from qzx_common import tracing
from qzx_common.db import create_engine
from qzx_common.kafka.deadletter import dead_letters_table
from qzx_common.kafka.outbox import outbox_table, stage
from qzx_common.kafka.publish import OutboxMessage
from qzx_common.runtime import Runtime
from qzx_common.settings import CommonSettings, to_asyncpg_url
from qzx_common.web.observability import TELEMETRY, install_observability
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture
async def schema(stack: Stack) -> AsyncIterator[str]:
    name = f"tr_{uuid.uuid4().hex[:8]}"
    engine = create_engine(to_asyncpg_url(stack.database_url))
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(outbox_table(MetaData(schema=name)).create)
        await conn.run_sync(dead_letters_table(MetaData(schema=name)).create)
    try:
        yield name
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await engine.dispose()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()


def test_tracing_is_off_unless_the_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracing.ENDPOINT_VARIABLE, raising=False)
    assert tracing.configure_tracing("ingest") is False and not tracing.enabled()
    message = OutboxMessage("t", b"x")
    assert tracing.traced([message])[0].headers == {}  # off: no header is added


async def test_a_request_that_produces_a_message_and_the_consumer_of_it_share_one_trace(
    stack: Stack, schema: str, spans: InMemorySpanExporter
) -> None:
    topic = f"trace-{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(
        database_url=stack.database_url,
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        migrate_on_start=False,
        log_json=False,
    )
    rt = await Runtime.start(settings=settings, schema=schema, migrations_dir=Path("."))
    app = FastAPI(telemetry=TELEMETRY)
    install_observability(app, service="test")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/things/{thing_id}")
    async def make_thing(thing_id: str) -> dict[str, str]:
        async with rt.engine.begin() as conn:
            staged = await stage(
                conn, schema=schema, messages=[OutboxMessage(settings.topic(topic), b"{}", thing_id.encode())]
            )
        rt.relay.publish_committed(staged)
        return {"id": thing_id}

    consumed: list[Any] = []

    async def handle(records: Any) -> None:
        consumed.extend(records)

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200  # probes make no spans
            r = await client.post("/things/a1", headers={"X-Request-Id": "req-trace-1"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "req-trace-1"
        (server,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
        assert server.name == "POST /things/{thing_id}"  # the route template, not the path
        assert server.attributes is not None and server.attributes["qzx.request_id"] == "req-trace-1"
        rt.consume(topics=[topic], group=f"trace-{topic}", handle=handle)

        def in_trace() -> list[ReadableSpan]:
            return [s for s in spans.get_finished_spans() if s.context.trace_id == server.context.trace_id]

        async def consumer_span() -> ReadableSpan | None:
            return next((s for s in in_trace() if s.kind == SpanKind.CONSUMER), None)

        consumer = await eventually(consumer_span, timeout=30)
        assert consumer.name == f"{settings.topic(topic)} process"
        # Its parent is the span the message was written in: the endpoint's, inside the server span.
        by_id = {s.context.span_id: s for s in in_trace()}
        assert consumer.parent is not None and consumer.parent.span_id in by_id
        writer = by_id[consumer.parent.span_id]
        assert writer.parent is not None and writer.parent.span_id == server.context.span_id
        assert [r.key for r in consumed] == [b"a1"]
        database = [s for s in in_trace() if s.kind == SpanKind.CLIENT and s.attributes]
        assert any(s.attributes.get("db.system") == "postgresql" for s in database), [
            s.name for s in in_trace()
        ]
    finally:
        await rt.stop()
