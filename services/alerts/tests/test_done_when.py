"""The issue's "Done when", end to end over the real broker and database."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest

from qzx_common.contracts.alerts import Alert
from qzx_dev.testing import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]

CST = timezone(timedelta(hours=8))
JINAN = {"lat": 36.651, "lon": 117.120, "admin_code": "370102", "road": "G2", "km": 412.3}
QINGDAO = {"lat": 36.070, "lon": 120.380, "admin_code": "370202", "road": "G22", "km": 10.0}


def last_2300_local() -> datetime:
    now = datetime.now(CST)
    at = now.replace(hour=23, minute=0, second=0, microsecond=0)
    return at if at < now else at - timedelta(days=1)


async def test_bac_95_at_23h_is_a_p1_alert_explained_via_api_and_sse_within_a_second(
    warm: None, make: Any, send: Any, client: httpx.AsyncClient, server: str, sse: Any, bearer: Any
) -> None:
    plate = make.plate()
    streaming = asyncio.Event()
    reader = asyncio.ensure_future(  # noqa: RUF006 (awaited below)
        sse(server, bearer(), until=lambda evs: any(e["plate"] == plate for _, e in evs), started=streaming)
    )
    await asyncio.wait_for(streaming.wait(), 5)  # the stream is open at its tail

    started = time.monotonic()
    await send(make.accepted(plate=plate, captured_at=last_2300_local(), measurements={"bac_mg_100ml": 95}))

    async def listed() -> list[dict[str, Any]]:
        return (await client.get("/v1/alerts", params={"plate": plate})).json()["items"]

    items = await eventually(listed, timeout=1.0, interval=0.02)
    events = await asyncio.wait_for(reader, timeout=max(0.05, 1.0 - (time.monotonic() - started)))
    assert time.monotonic() - started < 1.0

    alert = Alert.model_validate(items[0])
    assert alert.priority == "P1" and alert.status == "new" and alert.violations == ["drunk_driving"]
    assert alert.sign_deadline_s == 60
    factors = {f.name: f for f in alert.factors}
    assert factors["severity"].value == 95 and "BAC 95" in factors["severity"].why
    assert factors["night"].value == "23:00"
    assert "floor" in factors["priority_floor"].why
    assert alert.score == pytest.approx(sum(f.contribution for f in alert.factors))
    streamed = next(e for _, e in events if e["plate"] == plate)
    assert streamed["id"] == alert.id and streamed["priority"] == "P1"

    detail = (await client.get(f"/v1/alerts/{alert.id}")).json()
    assert [e["event_id"] for e in detail["events"]] == alert.event_ids
    assert detail["events"][0]["measurements"] == {"bac_mg_100ml": 95}


async def test_plate_in_jinan_and_qingdao_ten_minutes_apart_raises_plate_fraud(
    warm: None, make: Any, send: Any, client: httpx.AsyncClient
) -> None:
    plate = make.plate()
    at = datetime.now(CST) - timedelta(minutes=30)
    jinan = make.accepted(
        plate=plate,
        device_id="370102-CK-0001",
        location=JINAN,
        captured_at=at,
        violation="speeding",
        measurements={"speed_kmh": 130, "speed_limit_kmh": 120},
    )
    qingdao = make.accepted(
        plate=plate,
        device_id="370202-CK-0029",
        location=QINGDAO,
        captured_at=at + timedelta(minutes=10),
        violation="red_light",
        measurements={},
    )
    await send(jinan, qingdao)

    async def fraud() -> list[dict[str, Any]]:
        r = await client.get("/v1/alerts", params={"plate": plate, "kind": "plate_fraud"})
        items: list[dict[str, Any]] = r.json()["items"]
        return items if len(items) >= 2 else []

    # One finding per city, each with that city's sighting only.
    found = await eventually(fraud, timeout=10)
    for alert, raw in zip(sorted(found, key=lambda a: a["admin_code"]), (jinan, qingdao), strict=True):
        own = orjson.loads(raw)
        assert alert["priority"] == "P1" and alert["violations"] == ["fake_plate"]
        assert alert["event_ids"] == [own["event_id"]] and alert["count"] == 1
        why = alert["factors"][0]["why"]
        assert alert["factors"][0]["name"] == "impossible_travel"
        assert "Jinan" in why and "Qingdao" in why and "10.0 min" in why
        detail = (await client.get(f"/v1/alerts/{alert['id']}")).json()
        assert {e["admin_code"] for e in detail["events"]} == {own["location"]["admin_code"]}
