"""Request ids in the app's own log lines (not only the access log), and HTTP metrics labelled by
route template whatever the path."""

from __future__ import annotations

import io
import json
import logging

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from qzx_common.logs import JsonFormatter
from qzx_common.web.observability import TELEMETRY, install_observability

log = logging.getLogger("qzx.test.observability")


def _app() -> FastAPI:
    app = FastAPI(telemetry=TELEMETRY)
    install_observability(app, service="unit")

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        log.warning("looking at a thing", extra={"thing": thing_id})
        return {"id": thing_id}

    return app


async def test_every_line_logged_while_a_request_is_answered_carries_its_id() -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter("unit"))
    log.addHandler(handler)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as c:
            r = await c.get("/v1/things/t-1", headers={"X-Request-Id": "abc-123"})
            assert r.headers["x-request-id"] == "abc-123"
            log.warning("outside any request")
    finally:
        log.removeHandler(handler)
    inside, outside = (json.loads(line) for line in lines.getvalue().splitlines())
    assert (inside["msg"], inside["request_id"], inside["thing"]) == ("looking at a thing", "abc-123", "t-1")
    assert "request_id" not in outside


async def test_requests_are_counted_by_route_template_not_by_path() -> None:
    def count(route: str, status: str) -> float:
        labels = {"service": "unit", "method": "GET", "route": route, "status": status}
        return REGISTRY.get_sample_value("qzx_http_requests_total", labels) or 0.0

    before = count("/v1/things/{thing_id}", "200"), count("none", "404")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t") as c:
        for n in range(3):
            assert (await c.get(f"/v1/things/t-{n}")).status_code == 200
        assert (await c.get("/elsewhere/x")).status_code == 404
    after = count("/v1/things/{thing_id}", "200"), count("none", "404")
    assert (after[0] - before[0], after[1] - before[1]) == (3, 1)
    latency = {"service": "unit", "method": "GET", "route": "/v1/things/{thing_id}"}
    assert (REGISTRY.get_sample_value("qzx_http_request_duration_seconds_count", latency) or 0) >= 3
