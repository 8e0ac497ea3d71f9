"""What every service's HTTP app does for operators: a request id on every request (taken from a
valid ``X-Request-Id`` or generated, returned in the response, in every log line and in the audit
rows the request writes), a JSON access log line per request, request rate, latency and status
per route template (prometheus-fastapi-instrumentator) and, when tracing is on, the request id on
its server span (``qzx_common.tracing``)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from prometheus_client import Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

from qzx_common import tracing
from qzx_common.audit import REQUEST_ID_LENGTH

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's id is kept when it is 1-128 visible ASCII characters (the audit column's width);
# any other is replaced by a generated one.
_VALID_REQUEST_ID = re.compile(rf"[\x21-\x7e]{{1,{REQUEST_ID_LENGTH}}}")
# Probes and scrapes are neither counted nor logged: they would drown the requests people make.
UNOBSERVED = ("/healthz", "/livez", "/readyz", "/metrics")
# FastAPI's own telemetry (``FastAPI(telemetry=TELEMETRY)``): server spans once tracing is on
# (``qzx_common.tracing``), none for the probes.
TELEMETRY: TelemetryConfig = {"exclude": lambda scope: scope.get("path") in UNOBSERVED}

HTTP_REQUESTS = Counter(
    "qzx_http_requests_total",
    "HTTP requests answered, by service, method, route template and status",
    ["service", "method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "qzx_http_request_duration_seconds",
    "Time to answer an HTTP request (to its first byte for streams), by service, method and route template",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

access_log = logging.getLogger("qzx.access")


def install_observability(app: FastAPI, *, service: str) -> None:
    """Call once per app, after its other middleware (these wrap them all)."""
    Instrumentator(
        should_group_status_codes=False,
        should_group_untemplated=True,  # unmatched paths count as route "none": labels stay bounded
        should_exclude_streaming_duration=True,
        excluded_handlers=[f"^{re.escape(p)}$" for p in UNOBSERVED],
    ).add(_http_metrics(service)).instrument(app)
    app.add_middleware(AccessLog)
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name=REQUEST_ID_HEADER,
        # The audit and every other reader of the request's X-Request-Id see this id.
        update_request_header=True,
        generator=lambda: uuid.uuid4().hex,
        validator=lambda value: _VALID_REQUEST_ID.fullmatch(value) is not None,
    )
    app.add_middleware(RequestScoped)


class RequestScoped:
    """The request id is the request's alone: restored afterwards, so that a caller running the
    app in its own task (an in-process client) does not log its next lines under it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = correlation_id.set(None)
        try:
            await self.app(scope, receive, send)
        finally:
            correlation_id.reset(token)


def _http_metrics(service: str) -> Any:
    def record(info: Info) -> None:
        route = info.modified_handler
        HTTP_REQUESTS.labels(service, info.method, route, info.modified_status).inc()
        HTTP_SECONDS.labels(service, info.method, route).observe(info.modified_duration)

    return record


class AccessLog:
    """One JSON log line per request (``qzx.access``): method, path, status, duration, client; the
    request id is added by the formatter (``qzx_common.logs``)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in UNOBSERVED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if tracing.enabled():
            tracing.tag_request(correlation_id.get())
        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": client[0] if client else None,
                },
            )
