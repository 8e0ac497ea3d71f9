"""The console's reverse proxy against a real upstream served by uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2ln"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_forwards_method_path_query_body_and_authorization(
    client: httpx.AsyncClient, method: str
) -> None:
    body = "" if method == "GET" else json.dumps({"reason": "误报 false alarm", "n": 3})
    response = await client.request(
        method,
        "/api/alerts/v1/alerts/A-1%2F2/dismiss?status=new&plate=%E9%B2%81A12345&tag=a&tag=b",
        content=body,
        headers={
            "Authorization": BEARER,
            "Content-Type": "application/json",
            "Idempotency-Key": "k-123",
        },
    )
    seen = response.json()
    assert response.status_code == (201 if method == "POST" else 200)
    assert response.headers["x-upstream"] == "alerts"
    assert seen == {
        "service": "alerts",
        "method": method,
        # Percent-escapes reach the upstream as sent: %2F stays one path segment.
        "raw_path": "/v1/alerts/A-1%2F2/dismiss",
        "query": "status=new&plate=%E9%B2%81A12345&tag=a&tag=b",
        "body": body,
        "authorization": BEARER,
        "idempotency_key": "k-123",
        "content_type": "application/json",
        "forwarded_for": ["127.0.0.1"],
    }


async def test_the_client_address_is_set_by_the_proxy_not_passed_through(client: httpx.AsyncClient) -> None:
    spoofed = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.8", "X-Real-IP": "203.0.113.9"}
    seen = (await client.get("/api/ingest/v1/violations", headers=spoofed)).json()
    assert seen["forwarded_for"] == ["127.0.0.1"]  # the browser's address as the console saw it


async def test_each_prefix_goes_to_its_own_service(client: httpx.AsyncClient) -> None:
    ingest = (await client.get("/api/ingest/v1/violations?limit=5")).json()
    alerts = (await client.get("/api/alerts/v1/alerts")).json()
    assert (ingest["service"], ingest["raw_path"], ingest["query"]) == ("ingest", "/v1/violations", "limit=5")
    assert (alerts["service"], alerts["raw_path"], alerts["query"]) == ("alerts", "/v1/alerts", "")


async def test_no_authorization_is_sent_when_the_browser_sends_none(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/ingest/v1/dlq")).json()["authorization"] is None


async def test_upstream_errors_pass_through_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/alerts/v1/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-upstream"] == "alerts"
    assert response.json() == {"error": "alert_not_found", "detail": "no such alert"}


async def test_an_unreachable_service_is_a_502_in_the_error_model(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/dispatch/v1/tasks", headers={"Authorization": BEARER})
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "upstream_unavailable"
    assert "dispatch" in body["detail"]


async def test_an_unknown_service_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/reports/v1/daily")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_service"


async def test_sse_events_arrive_as_the_upstream_sends_them(
    client: httpx.AsyncClient, upstreams: dict[str, Any]
) -> None:
    alerts = upstreams["alerts"]
    alerts.release_second_event.clear()
    headers = {"Accept": "text/event-stream", "Authorization": BEARER, "Last-Event-ID": "41"}
    async with client.stream("GET", "/api/alerts/v1/alerts/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        # The second event is held back upstream: the first must arrive on its own.
        async with asyncio.timeout(5):
            first = await _next_event(lines)
        assert first == {"id": "42", "event": "alert", "data": '{"n": 1, "resumed_after": "41"}'}
        alerts.release_second_event.set()
        async with asyncio.timeout(5):
            second = await _next_event(lines)
        assert second == {"id": "43", "event": "alert", "data": '{"n": 2}'}


async def test_a_client_hanging_up_closes_a_quiet_upstream_stream(
    client: httpx.AsyncClient, upstreams: dict[str, Any]
) -> None:
    alerts = upstreams["alerts"]
    alerts.silent_stream_closed.clear()
    async with client.stream("GET", "/api/alerts/v1/silent/", headers={"Accept": "text/event-stream"}) as r:
        async with asyncio.timeout(5):
            assert await anext(r.aiter_lines()) == ": hello"
        assert not alerts.silent_stream_closed.is_set()
    # The upstream sends nothing more, so only the proxy noticing the hang-up can end it.
    await asyncio.wait_for(alerts.silent_stream_closed.wait(), 5)


async def test_a_body_the_upstream_breaks_off_is_not_passed_off_as_complete(
    client: httpx.AsyncClient,
) -> None:
    async with client.stream("GET", "/api/alerts/v1/broken/") as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await response.aread()


async def _next_event(lines: AsyncIterator[str]) -> dict[str, str]:
    event: dict[str, str] = {}
    async for line in lines:
        if not line:
            if event:
                return event
            continue
        field, _, value = line.partition(": ")
        event[field] = value
    raise AssertionError("the stream ended before the event did")
