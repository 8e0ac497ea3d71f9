"""Accidents over the real broker and database: POST /v1/accidents (idempotent, scoped, audited),
the signed exchange, accidents.reported.v1 with its dead letters, the forward to
accidents.accepted.v1, and GET /v1/accidents with filters and keyset pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from qzx_common.topics import ACCIDENTS_ACCEPTED, ACCIDENTS_REPORTED, dlq_topic
from qzx_common.web.auth import mint_token
from qzx_common.web.exchange import ExchangeAuth
from qzx_dev.samples import make_accident
from qzx_dev.testing import Stack, eventually
from qzx_ingest.settings import IngestSettings

from .conftest import PARTNERS
from .test_pipeline import drain

pytestmark = [pytest.mark.db, pytest.mark.kafka]

QINGDAO = {"lat": 36.07, "lon": 120.38, "admin_code": "370202", "road": "S7", "km": 12.0}


def token_headers(
    settings: IngestSettings, role: str, jur: str, sub: str = "d-1", unit_id: str | None = None
) -> dict[str, str]:
    token = mint_token(secret=settings.jwt_secret, sub=sub, role=role, jur=jur, unit_id=unit_id)
    return {"Authorization": f"Bearer {token}"}


def tagged(tag: str, i: int | str, **over: Any) -> dict[str, Any]:
    return make_accident(accident_id=f"370102-A-{tag}-{i}", **over)


async def ids_of(client: httpx.AsyncClient, **params: Any) -> list[str]:
    r = await client.get("/v1/accidents", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return [i["accident_id"] for i in r.json()["items"]]


async def test_a_report_is_stored_once_audited_and_forwarded_once(
    stack: Stack, client: httpx.AsyncClient, ingest: Any, ingest_settings: IngestSettings
) -> None:
    tag = uuid.uuid4().hex[:8]
    accident = tagged(tag, 0, description=f"{tag} injury at a junction")
    dispatcher = token_headers(ingest_settings, "dispatcher", "3701", sub=f"d-{tag}")
    first = await client.post("/v1/accidents", content=orjson.dumps(accident), headers=dispatcher)
    assert (first.status_code, first.json()) == (
        201,
        {"accident_id": accident["accident_id"], "duplicate": False},
    )
    again = await client.post("/v1/accidents", content=orjson.dumps(accident), headers=dispatcher)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)

    stored = (await client.get(f"/v1/accidents/{accident['accident_id']}")).json()
    assert (
        stored["severity"] == "injury" and stored["major"] is False and stored["reporter"] == f"user:d-{tag}"
    )
    forwarded = await drain(stack, ACCIDENTS_ACCEPTED, want=1, match=lambda r: tag.encode() in r.value)
    assert forwarded[0].key == accident["accident_id"].encode()
    assert orjson.loads(forwarded[0].value)["accident_id"] == accident["accident_id"]
    # Nothing more comes: the duplicate was not forwarded again.
    again_forwarded = await drain(stack, ACCIDENTS_ACCEPTED, want=1, match=lambda r: tag.encode() in r.value)
    assert len(again_forwarded) == 1

    async with ingest.state.runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT actor, action, admin_code FROM ingest.audit_log WHERE target_id = :id"),
                {"id": accident["accident_id"]},
            )
        ).all()
    assert [tuple(r) for r in rows] == [(f"d-{tag}", "accidents.report", "370102")] * 2


async def test_bad_reports_and_other_jurisdictions_are_refused(
    client: httpx.AsyncClient, ingest_settings: IngestSettings
) -> None:
    tag = uuid.uuid4().hex[:8]
    bad = await client.post("/v1/accidents", content=orjson.dumps(tagged(tag, 0, severity="fatal", killed=0)))
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_accident" and "killed:" in bad.json()["detail"]

    jinan = token_headers(ingest_settings, "dispatcher", "3701")
    elsewhere = tagged(tag, 1, location=QINGDAO)
    refused = await client.post("/v1/accidents", content=orjson.dumps(elsewhere), headers=jinan)
    assert (refused.status_code, refused.json()["error"]) == (403, "out_of_jurisdiction")
    auditor = await client.post(
        "/v1/accidents",
        content=orjson.dumps(tagged(tag, 2)),
        headers=token_headers(ingest_settings, "auditor", "37"),
    )
    assert auditor.status_code == 403

    # Stored by the province, unseen from Jinan.
    assert (await client.post("/v1/accidents", content=orjson.dumps(elsewhere))).status_code == 201
    hidden = await client.get(f"/v1/accidents/{elsewhere['accident_id']}", headers=jinan)
    assert hidden.status_code == 404
    listed = await client.get("/v1/accidents", params={"limit": 500}, headers=jinan)
    assert elsewhere["accident_id"] not in [i["accident_id"] for i in listed.json()["items"]]


async def test_the_topic_stores_valid_reports_once_and_dead_letters_the_rest(
    stack: Stack, producer: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    valid = [tagged(tag, i) for i in range(5)]
    bad = [
        (tagged(tag, "sev", severity="property_only"), "severity: property_only with 2 injured"),
        (tagged(tag, "feature", road_feature="bridge"), "road_feature:"),
    ]
    topic = stack.topic_prefix + ACCIDENTS_REPORTED
    for a in [*valid, *valid[:2], *(b for b, _ in bad)]:
        await producer.send(topic, orjson.dumps(a), key=a["accident_id"].encode())
    await producer.send(topic, f"{tag} not json".encode(), key=b"k")
    await producer.flush()

    async def all_stored() -> bool:
        for a in valid:
            if (await client.get(f"/v1/accidents/{a['accident_id']}")).status_code != 200:
                return False
        return True

    await eventually(all_stored)
    dead = await drain(stack, dlq_topic(ACCIDENTS_REPORTED), want=3, match=lambda r: tag.encode() in r.value)
    reasons = {
        orjson.loads(r.value)["accident_id"] if r.value[:1] == b"{" else "raw": dict(r.headers) for r in dead
    }
    for accident, reason in bad:
        headers = reasons[accident["accident_id"]]
        assert reason in headers["qzx-error"].decode()
        assert headers["qzx-consumer"] == b"qzx-ingest-accidents"
    assert b"malformed JSON" in reasons["raw"]["qzx-error"]
    forwarded = await drain(stack, ACCIDENTS_ACCEPTED, want=5, match=lambda r: tag.encode() in r.value)
    assert sorted(r.key.decode() for r in forwarded) == sorted(a["accident_id"] for a in valid)


async def test_the_exchange_accepts_its_own_area_only(client: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    batch = {
        "accidents": [
            tagged(tag, 0),
            tagged(tag, 1, location=QINGDAO),
            tagged(tag, 2, killed=1),
            tagged(tag, 0),
        ]
    }
    auth = ExchangeAuth("jinan", PARTNERS["jinan"]["secret"])
    r = await client.post("/v1/exchange/accidents", content=orjson.dumps(batch), auth=auth)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [e["index"] for e in body["rejected"]] == [1, 2]
    assert body["rejected"][0]["error"].startswith("out_of_scope: location.admin_code 370202")
    stored = (await client.get(f"/v1/accidents/{batch['accidents'][0]['accident_id']}")).json()
    assert stored["reporter"] == "exchange:jinan"
    unsigned = await client.post("/v1/exchange/accidents", content=orjson.dumps(batch))
    assert unsigned.status_code == 401


async def test_filters_and_keyset_pages(client: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:8]
    base = datetime.now(UTC) - timedelta(days=3)
    reports = [
        tagged(tag, 0, occurred_at=base, severity="fatal", killed=3, rural=True),
        tagged(tag, 1, occurred_at=base + timedelta(minutes=1), severity="property_only", injured=0),
        tagged(tag, 2, occurred_at=base + timedelta(minutes=2), road_feature="level_crossing", rural=True),
        *(tagged(tag, 3 + i, occurred_at=base + timedelta(minutes=3 + i)) for i in range(5)),
    ]
    for a in reports:
        assert (await client.post("/v1/accidents", content=orjson.dumps(a))).status_code == 201
    window = {"since": base.isoformat(), "until": (base + timedelta(minutes=10)).isoformat()}
    newest_first = [a["accident_id"] for a in reversed(reports)]
    assert await ids_of(client, **window) == newest_first

    pages, cursor = [], None
    while True:
        r = await client.get(
            "/v1/accidents", params={**window, "limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        pages.append([i["accident_id"] for i in r.json()["items"]])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert [i for p in pages for i in p] == newest_first and [len(p) for p in pages] == [3, 3, 2]

    ids = [a["accident_id"] for a in reports]
    assert await ids_of(client, **window, major=True) == [ids[0]]
    assert await ids_of(client, **window, severity="property_only") == [ids[1]]
    assert await ids_of(client, **window, road_feature="level_crossing") == [ids[2]]
    assert await ids_of(client, **window, rural=True) == [ids[2], ids[0]]
    assert await ids_of(client, **window, admin_code="3702") == []
    bad_cursor = await client.get("/v1/accidents", params={"cursor": "nope"})
    assert bad_cursor.status_code == 422


async def test_quick_handling_of_a_property_only_accident_on_a_main_road(
    client: httpx.AsyncClient, ingest_settings: IngestSettings
) -> None:
    tag = uuid.uuid4().hex[:8]
    at = datetime.now(UTC) - timedelta(hours=2)
    # A district of its own, so the summary counts only this test's cases.
    place = {"lat": 36.2, "lon": 117.1, "admin_code": "370911", "road": "G104", "km": 3.0}
    minor = [
        tagged(tag, i, occurred_at=at, severity="property_only", injured=0, location=place) for i in range(3)
    ]
    town_road = tagged(tag, "x", severity="property_only", injured=0, location=place | {"road": "X012"})
    injury = tagged(tag, "inj", location=place)
    for a in [*minor, town_road, injury]:
        assert (await client.post("/v1/accidents", content=orjson.dumps(a))).status_code == 201

    def close_path(a: dict[str, Any]) -> str:
        return f"/v1/accidents/{a['accident_id']}/quick-handling/close"

    officer = token_headers(ingest_settings, "patrol_officer", "3709", sub=f"po-{tag}", unit_id="U-370911-01")
    for a, minutes, outcome in ((minor[0], 20, "agreed"), (minor[1], 40, "referred")):
        body = {"outcome": outcome, "road_cleared_at": (at + timedelta(minutes=minutes)).isoformat()}
        r = await client.post(close_path(a), json=body, headers=officer)
        assert r.status_code == 200, r.text
        assert r.json()["clear_s"] == minutes * 60 and r.json()["closed_by"] == f"po-{tag}"

    again = await client.post(
        close_path(minor[0]), json={"outcome": "agreed", "road_cleared_at": at.isoformat()}
    )
    assert (again.status_code, again.json()["error"]) == (409, "quick_case_closed")
    early = {"outcome": "agreed", "road_cleared_at": (at - timedelta(minutes=1)).isoformat()}
    assert (await client.post(close_path(minor[2]), json=early)).json()["error"] == "invalid_quick_close"
    for not_quick in (town_road, injury):
        r = await client.post(
            close_path(not_quick), json={"outcome": "agreed", "road_cleared_at": at.isoformat()}
        )
        assert (r.status_code, r.json()["error"]) == (404, "quick_case_not_found")
    elsewhere = token_headers(ingest_settings, "dispatcher", "3702")
    late = {"outcome": "agreed", "road_cleared_at": datetime.now(UTC).isoformat()}
    assert (await client.post(close_path(minor[2]), json=late, headers=elsewhere)).status_code == 404

    stored = (await client.get(f"/v1/accidents/{minor[0]['accident_id']}")).json()
    assert stored["quick_handling"]["status"] == "closed" and stored["quick_handling"]["outcome"] == "agreed"
    assert (await client.get(f"/v1/accidents/{minor[2]['accident_id']}")).json()["quick_handling"][
        "status"
    ] == "open"
    assert "quick_handling" not in (await client.get(f"/v1/accidents/{injury['accident_id']}")).json()

    summary = (await client.get("/v1/accidents/quick-handling", params={"admin_code": "370911"})).json()
    assert summary == {
        "open": 1,
        "closed": 2,
        "agreed": 1,
        "clear_s_median": 1800.0,
        "clear_s_p90": 2280.0,
        "clear_s_max": 2400,
    }
    outside = await client.get(
        "/v1/accidents/quick-handling", params={"admin_code": "370911"}, headers=elsewhere
    )
    assert outside.json()["open"] == 0 and outside.json()["closed"] == 0
