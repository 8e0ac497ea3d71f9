"""OpenTelemetry tracing across HTTP, Kafka and PostgreSQL, off unless switched on.

One variable switches it on: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard one; spans go there
over OTLP/HTTP, ``OTEL_SERVICE_NAME`` and the other ``OTEL_*`` variables apply as usual).
Then every HTTP request is a server span (FastAPI's own telemetry, which traces once a tracer
provider is set; ``web.observability.TELEMETRY`` leaves the probes out), every statement a client span
(asyncpg instrumentation, which covers SQLAlchemy's and the raw-driver calls), messages written to
an outbox carry the writer's trace context in their headers (W3C ``traceparent``), and each batch a
consumer applies is a consumer span whose parent is its first traced record (the others linked).

Off, each hook costs one flag check: no provider, no middleware work, no header.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from qzx_common.kafka.publish import OutboxMessage

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
# A batch spanning many traces links at most this many of them.
MAX_LINKS = 32

_enabled = False


def enabled() -> bool:
    return _enabled


def configure_tracing(service: str) -> bool:
    """Switch tracing on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; returns whether it is on."""
    if not os.environ.get(ENDPOINT_VARIABLE):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or f"qzx-{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    enable(provider)
    return True


def enable(provider: TracerProvider) -> None:
    """Trace through ``provider`` from now on (tests pass one with an in-memory exporter)."""
    global _enabled
    from opentelemetry import trace
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    trace.set_tracer_provider(provider)
    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    _enabled = True


def disable() -> None:
    """Stop tracing (tests): hooks pass through again and asyncpg is no longer wrapped."""
    global _enabled
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    _enabled = False
    instrumentor = AsyncPGInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def traced(messages: Sequence[OutboxMessage]) -> Sequence[OutboxMessage]:
    """``messages`` with the current trace context in their headers (unchanged while tracing is off)."""
    if not _enabled:
        return messages
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return messages
    return [replace(m, headers={**m.headers, **carrier}) for m in messages]


@contextmanager
def consuming(group: str, records: Sequence[Any]) -> Iterator[None]:
    """A consumer span around applying ``records`` (aiokafka records), in its first traced
    record's trace."""
    if not _enabled or not records:
        yield
        return
    from opentelemetry import propagate, trace

    contexts = []
    for record in records:
        carrier = {
            k: v.decode("latin-1") for k, v in record.headers or () if k in ("traceparent", "tracestate")
        }
        if carrier:
            contexts.append(propagate.extract(carrier))
            if len(contexts) > MAX_LINKS:
                break
    parent = contexts[0] if contexts else None
    links = [
        trace.Link(s) for c in contexts[1:] if (s := trace.get_current_span(c).get_span_context()).is_valid
    ]
    tracer = trace.get_tracer("qzx.kafka")
    with tracer.start_as_current_span(
        f"{records[0].topic} process",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": records[0].topic,
            "messaging.consumer.group.name": group,
            "messaging.batch.message_count": len(records),
        },
    ):
        yield


def tag_request(request_id: str | None) -> None:
    """The request id on the current (server) span: from a log line or audit row to the trace."""
    from opentelemetry import trace

    span = trace.get_current_span()
    if request_id and span.is_recording():
        span.set_attribute("qzx.request_id", request_id)
