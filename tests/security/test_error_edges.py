"""Malformed input reaching the database is the client's error (4xx with a precise code), never a
500: cursors whose elements have the wrong type or an unstorable value, NUL in a path or query,
a ``Last-Event-ID`` that is not an id the stream sent."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sec_support import bearer, client_for

pytestmark = [pytest.mark.db]

PROVINCE = bearer("province_commander")


def _cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


@pytest.fixture(scope="module")
async def alerts(alerts_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(alerts_app, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
async def dispatch(dispatch_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(dispatch_app, timeout=30) as c:
        yield c


@pytest.mark.parametrize("key", [["x"], [None], [1.5], [True], [2**63], [-1], [[1]]])
async def test_a_malformed_dlq_cursor_is_a_422(ingest: httpx.AsyncClient, key: list[Any]) -> None:
    r = await ingest.get("/v1/dlq", params={"cursor": _cursor(*key)}, headers=PROVINCE)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor"), r.text


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
        "2026-01-01T00:00:00",  # no offset: not a time this API wrote
        17,
        None,
    ],
)
async def test_a_malformed_time_cursor_is_a_422(alerts: httpx.AsyncClient, at: Any) -> None:
    r = await alerts.get("/v1/alerts", params={"cursor": _cursor(at, "A-1")}, headers=PROVINCE)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor"), r.text


async def test_an_id_with_nul_in_a_time_cursor_is_a_422(alerts: httpx.AsyncClient) -> None:
    r = await alerts.get(
        "/v1/alerts", params={"cursor": _cursor("2026-01-01T00:00:00+00:00", "a\x00")}, headers=PROVINCE
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor"), r.text


async def test_every_list_checks_its_cursor_types(
    ingest: httpx.AsyncClient, alerts: httpx.AsyncClient, dispatch: httpx.AsyncClient
) -> None:
    bad = {"cursor": _cursor(None, None)}
    one = {"cursor": _cursor(None)}
    for client, path, params in (
        (ingest, "/v1/violations", bad),
        (ingest, "/v1/audit", one),
        (alerts, "/v1/hazards", bad),
        (alerts, "/v1/hotlists", bad),
        (dispatch, "/v1/tasks", bad),
        (dispatch, "/v1/officers", one),
        (dispatch, "/v1/units", one),
        (dispatch, "/v1/rosters", one),
    ):
        r = await client.get(path, params=params, headers=PROVINCE)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_cursor"), (path, r.text)


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("alerts", "/v1/alerts/a%00"),
        ("alerts", "/v1/hazards/h%00"),
        ("ingest", "/v1/violations/e%00"),
        ("dispatch", "/v1/tasks?unit_id=u%00"),
        ("dispatch", "/v1/officers/o%00"),
    ],
)
async def test_nul_in_a_path_or_query_is_a_422(
    request: pytest.FixtureRequest, service: str, path: str
) -> None:
    client: httpx.AsyncClient = request.getfixturevalue(service)
    r = await client.get(path, headers=PROVINCE)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_text"), r.text


@pytest.mark.parametrize("value", ["²", "١٢", "１２", "12a", "-1", "99999999999999999999", ""])
async def test_a_last_event_id_that_is_not_an_id_is_a_422(alerts: httpx.AsyncClient, value: str) -> None:
    # A header taken for a valid id would open the stream: the wait_for turns that into a failure.
    # Header bytes are read as latin-1: b"\xb2" arrives as '²', which str.isdigit() accepts.
    raw = value.encode("latin-1") if value.isascii() or value == "²" else value.encode()
    r = await asyncio.wait_for(
        alerts.get("/v1/alerts/stream", headers=PROVINCE | {"Last-Event-ID": raw}), timeout=10
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_last_event_id"), r.text
