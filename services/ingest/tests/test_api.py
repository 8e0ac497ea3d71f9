"""Query API: filters, keyset pagination, jurisdiction, errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from qzx_common.web.auth import mint_token
from qzx_dev.samples import make_event
from qzx_ingest.settings import IngestSettings
from qzx_ingest.violations.service import RawMessage, apply_batch

pytestmark = [pytest.mark.db]


@pytest.fixture(scope="module")
async def seeded(ingest) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """45 events across two cities, three violations, one plate repeated, inserted directly."""
    import orjson

    tag = uuid.uuid4().hex[:6]
    base = datetime.now(UTC) - timedelta(hours=2)
    events = []
    for i in range(45):
        city = "370102" if i % 3 else "370202"
        loc = (
            {"lat": 36.65, "lon": 117.12, "admin_code": city}
            if city == "370102"
            else {"lat": 36.07, "lon": 120.38, "admin_code": city}
        )
        violation = ("drunk_driving", "overload", "noise_modified")[i % 3]
        events.append(
            make_event(
                event_id=f"{tag}-{i:03d}",
                captured_at=base + timedelta(minutes=i),
                violation=violation,
                location=loc,
                plate=f"鲁Q{tag[:1].upper() if tag[0].isalpha() else 'A'}{i % 5:04d}",
            )
        )
    rt = ingest.state.runtime
    async with rt.engine.begin() as conn:
        result = await apply_batch(
            conn, messages=[RawMessage(orjson.dumps(e)) for e in events], source="test"
        )
    assert result.accepted == 45
    return {"tag": tag, "events": events, "since": base}


async def test_pagination_walks_every_row_once_in_order(client: httpx.AsyncClient, seeded: dict) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 7, "since": seeded["since"].isoformat()}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/v1/violations", params=params)).json()
        seen += [i["event_id"] for i in body["items"] if i["event_id"].startswith(seeded["tag"])]
        cursor = body["next_cursor"]
        if not cursor:
            break
    expected = [e["event_id"] for e in reversed(seeded["events"])]
    assert seen == expected


async def test_filters(client: httpx.AsyncClient, seeded: dict) -> None:
    since = seeded["since"].isoformat()
    body = (
        await client.get("/v1/violations", params={"violation": "overload", "since": since, "limit": 500})
    ).json()
    mine = [i for i in body["items"] if i["event_id"].startswith(seeded["tag"])]
    assert len(mine) == 15 and all(i["violation"] == "overload" for i in mine)

    body = (
        await client.get("/v1/violations", params={"admin_code": "3702", "since": since, "limit": 500})
    ).json()
    mine = [i for i in body["items"] if i["event_id"].startswith(seeded["tag"])]
    assert len(mine) == 15 and all(i["location"]["admin_code"].startswith("3702") for i in mine)

    plate = seeded["events"][0]["plate"]
    body = (await client.get("/v1/violations", params={"plate": plate, "limit": 500})).json()
    assert len(body["items"]) == 9 and all(i["plate"] == plate for i in body["items"])

    until = (seeded["since"] + timedelta(minutes=10)).isoformat()
    body = (await client.get("/v1/violations", params={"since": since, "until": until, "limit": 500})).json()
    assert len([i for i in body["items"] if i["event_id"].startswith(seeded["tag"])]) == 10


async def test_city_token_sees_only_its_city(ingest_settings: IngestSettings, ingest, seeded: dict) -> None:  # type: ignore[no-untyped-def]
    token = mint_token(secret=ingest_settings.jwt_secret, sub="q-1", role="dispatcher", jur="3702")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ingest),
        base_url="http://ingest",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        body = (
            await c.get("/v1/violations", params={"since": seeded["since"].isoformat(), "limit": 500})
        ).json()
        assert body["items"] and all(i["location"]["admin_code"].startswith("3702") for i in body["items"])
        jinan = next(e for e in seeded["events"] if e["location"]["admin_code"] == "370102")
        r = await c.get(f"/v1/violations/{jinan['event_id']}")
        assert r.status_code == 404


async def test_errors_are_precise(client: httpx.AsyncClient, ingest) -> None:  # type: ignore[no-untyped-def]
    r = await client.get("/v1/violations/nope")
    assert r.status_code == 404 and r.json()["error"] == "violation_not_found"
    r = await client.get("/v1/violations", params={"cursor": "garbage!"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_cursor"
    r = await client.get("/v1/violations", params={"limit": 0})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and "limit" in r.json()["detail"]
    r = await client.get("/v1/violations", params={"plate": "nonsense"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_plate"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ingest), base_url="http://ingest") as anon:
        r = await anon.get("/v1/violations")
        assert r.status_code == 401 and r.json()["error"] == "missing_token"
        r = await anon.get("/v1/violations", headers={"Authorization": "Bearer x.y.z"})
        assert r.status_code == 401 and r.json()["error"] == "malformed_token"
