"""Findings that span two cities stay in each city: a plate seen in Jinan and then in Qingdao makes
an alert of each city with that city's sightings only (the Jinan alert never moves to Qingdao), a
racing group never gathers plates of two cities, a hotlist entry applies only inside its owner's
jurisdiction, and a hazard point lies in the area it names. Through the real scoring pipeline
(what the consumer runs) and the public API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sec_support import PARTNERS, bearer, client_for
from sec_world import JINAN_SPOT, QINGDAO_SPOT, audit_rows, city_event, new_plate, request_id, score

from qzx_common.web.exchange import ExchangeAuth

pytestmark = [pytest.mark.db]

QD = bearer("dispatcher", "3702")
JN = bearer("dispatcher", "3701")
PROVINCE = bearer("province_commander")
JN_BOSS = bearer("city_commander", "3701")


@pytest.fixture(scope="module")
async def alerts(alerts_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(alerts_app, timeout=30) as c:
        yield c


async def _alerts_of(alerts: httpx.AsyncClient, plate: str, **params: str) -> dict[str, list[dict[str, Any]]]:
    """The plate's alerts (read by the province), per city."""
    r = await alerts.get("/v1/alerts", params={"plate": plate, "limit": 100, **params}, headers=PROVINCE)
    assert r.status_code == 200, r.text
    out: dict[str, list[dict[str, Any]]] = {}
    for a in r.json()["items"]:
        out.setdefault(a["admin_code"][:4], []).append(a)
    return out


async def test_a_sighting_in_another_city_never_joins_or_moves_an_alert(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    plate = new_plate()
    at = datetime.now(UTC) - timedelta(minutes=5)
    jinan = city_event(JINAN_SPOT, plate=plate, captured_at=at)
    qingdao = city_event(QINGDAO_SPOT, plate=plate, captured_at=at + timedelta(minutes=2))
    await score(alerts_app, [jinan])  # an open Jinan alert, then the Qingdao sighting
    await score(alerts_app, [qingdao])

    found = await _alerts_of(alerts, plate, kind="violation")
    [jn], [qd] = found["3701"], found["3702"]
    assert jn["event_ids"] == [jinan["event_id"]] and jn["admin_code"] == "370102"
    assert qd["event_ids"] == [qingdao["event_id"]] and qd["admin_code"] == "370202"
    # Each city reads its own alert, with its own sighting, and not the other's.
    r = await alerts.get(f"/v1/alerts/{jn['id']}", headers=JN_BOSS)
    assert r.status_code == 200 and [e["event_id"] for e in r.json()["events"]] == [jinan["event_id"]]
    r = await alerts.get(f"/v1/alerts/{jn['id']}", headers=QD)
    assert (r.status_code, r.json()["error"]) == (404, "alert_not_found")
    # Only someone who sees the alert's city closes it.
    r = await alerts.post(f"/v1/alerts/{jn['id']}/dismiss", json={"reason": "ours"}, headers=QD)
    assert (r.status_code, r.json()["error"]) == (404, "alert_not_found")
    r = await alerts.get(f"/v1/alerts/{jn['id']}", headers=PROVINCE)
    assert r.json()["status"] == "new"
    r = await alerts.post(f"/v1/alerts/{qd['id']}/dismiss", json={"reason": "ours"}, headers=QD)
    assert r.status_code == 200


async def test_a_cloned_plate_seen_in_two_cities_is_one_finding_per_city(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    plate = new_plate()
    at = datetime.now(UTC) - timedelta(minutes=5)
    jinan = city_event(JINAN_SPOT, plate=plate, captured_at=at)
    qingdao = city_event(QINGDAO_SPOT, plate=plate, captured_at=at + timedelta(minutes=2))
    await score(alerts_app, [jinan])
    await score(alerts_app, [qingdao])  # 300 km in 2 minutes: a cloned plate

    found = await _alerts_of(alerts, plate, kind="plate_fraud")
    [jn], [qd] = found["3701"], found["3702"]
    for alert, own, other, headers in (
        (jn, jinan, qingdao, JN),
        (qd, qingdao, jinan, QD),
    ):
        assert alert["event_ids"] == [own["event_id"]] and alert["priority"] == "P1"
        r = await alerts.get(f"/v1/alerts/{alert['id']}", headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert [e["event_id"] for e in body["events"]] == [own["event_id"]]
        # The other city's sighting is named by its city and time only: not its device or place.
        why = orjson.dumps(body).decode()
        assert other["device_id"] not in why and other["event_id"] not in why
        assert own["device_id"] in body["factors"][0]["why"]
    assert "in Qingdao" in jn["factors"][0]["why"] and "in Jinan" in qd["factors"][0]["why"]
    r = await alerts.get(f"/v1/alerts/{jn['id']}", headers=QD)
    assert r.status_code == 404


async def test_a_racing_group_never_gathers_plates_of_two_cities(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    # Two racers on the same road number and kilometre, one in each city, at the same moment.
    road = {"road": f"X{new_plate()[-4:]}", "km": 10.0}
    at = datetime.now(UTC) - timedelta(minutes=3)
    racers = [
        city_event(spot | road, violation="street_racing", measurements={"speed_kmh": 160}, captured_at=at)
        for spot in (JINAN_SPOT, QINGDAO_SPOT)
    ]
    await score(alerts_app, racers)
    r = await alerts.get("/v1/alerts", params={"kind": "racing_group", "limit": 500}, headers=PROVINCE)
    plates = {e["plate"] for e in racers}
    assert [a for a in r.json()["items"] if plates & set(a["plates"])] == []
    # Another racer in Jinan makes a group with the Jinan one, and the Qingdao racer stays out.
    more = city_event(JINAN_SPOT | road, violation="street_racing", captured_at=at + timedelta(seconds=20))
    await score(alerts_app, [more])
    r = await alerts.get("/v1/alerts", params={"kind": "racing_group", "limit": 500}, headers=PROVINCE)
    [group] = [a for a in r.json()["items"] if more["plate"] in a["plates"]]
    assert set(group["plates"]) == {racers[0]["plate"], more["plate"]} and group["admin_code"] == "370102"


# -- hotlists ------------------------------------------------------------------------------------


def _partner(key_id: str) -> ExchangeAuth:
    return ExchangeAuth(key_id, PARTNERS[key_id]["secret"])


async def test_a_hotlist_entry_applies_only_inside_its_owners_jurisdiction(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    plate = new_plate()
    entry = {"plate": plate, "priority": "P1", "reason": "qingdao informant case"}
    r = await alerts.post("/v1/exchange/hotlists", json={"entries": [entry]}, auth=_partner("qingdao"))
    assert r.status_code == 200 and r.json()["created"] == 1, r.text
    # A minor violation of the plate in each city, hours apart (no cloned-plate finding).
    at = datetime.now(UTC) - timedelta(hours=4)
    minor = {"violation": "red_light", "measurements": {}, "plate": plate}
    await score(alerts_app, [city_event(JINAN_SPOT, captured_at=at, **minor)])
    await score(alerts_app, [city_event(QINGDAO_SPOT, captured_at=at + timedelta(hours=3), **minor)])

    found = await _alerts_of(alerts, plate, kind="violation")
    [jn], [qd] = found["3701"], found["3702"]
    assert "hotlist" not in {f["name"] for f in jn["factors"]} and jn["priority"] != "P1"
    assert "informant" not in orjson.dumps(jn).decode()
    hot = next(f for f in qd["factors"] if f["name"] == "hotlist")
    assert qd["priority"] == "P1" and "informant" in hot["why"]
    # Whoever sees the alert it raised sees the entry.
    r = await alerts.get("/v1/hotlists", params={"plate": plate}, headers=QD)
    assert [e["reason"] for e in r.json()["items"]] == ["qingdao informant case"]


async def test_the_source_of_a_hotlist_entry_is_the_servers_to_set(alerts: httpx.AsyncClient) -> None:
    plate = new_plate()
    r = await alerts.post(
        "/v1/exchange/hotlists",
        json={"entries": [{"plate": plate, "reason": "ministry case"}]},
        auth=_partner("ministry"),
    )
    assert r.json()["created"] == 1, r.text
    forged = {"plate": plate, "reason": "overwritten", "priority": "P4", "source": "exchange:ministry"}
    r = await alerts.post("/v1/hotlists", json=forged, headers=PROVINCE)
    assert (r.status_code, r.json()["error"]) == (422, "invalid_request") and "source" in r.json()["detail"]
    r = await alerts.get("/v1/hotlists", params={"plate": plate}, headers=PROVINCE)
    assert [(e["reason"], e["source"]) for e in r.json()["items"]] == [("ministry case", "exchange:ministry")]
    # The console's own entry for the plate is one beside the ministry's, with the console as source.
    r = await alerts.post("/v1/hotlists", json={"plate": plate, "reason": "province case"}, headers=PROVINCE)
    assert r.status_code == 201 and r.json()["source"] == "console"


# -- hazards -------------------------------------------------------------------------------------


async def test_a_hazard_point_must_lie_in_the_city_it_names(
    alerts: httpx.AsyncClient, alerts_app: Any
) -> None:
    planted = {"name": "planted", "risk_level": "high", "admin_code": "370102", "radius_m": 5000}
    at_qingdao = {"lat": QINGDAO_SPOT["lat"], "lon": QINGDAO_SPOT["lon"]}
    for headers in (JN_BOSS, PROVINCE):  # whoever asks: the point is not in Jinan
        rid = request_id()
        r = await alerts.post(
            "/v1/hazards", json=planted | at_qingdao, headers=headers | {"X-Request-Id": rid}
        )
        assert (r.status_code, r.json()["error"]) == (422, "outside_admin_area"), r.text
        assert "Qingdao" in r.json()["detail"]
        assert await audit_rows(alerts_app, "alerts", rid) == []
    r = await alerts.post(
        "/v1/hazards", json=planted | {"lat": JINAN_SPOT["lat"], "lon": JINAN_SPOT["lon"]}, headers=JN_BOSS
    )
    assert r.status_code == 201, r.text
    hazard = r.json()
    r = await alerts.patch(f"/v1/hazards/{hazard['id']}", json=at_qingdao, headers=JN_BOSS)
    assert (r.status_code, r.json()["error"]) == (422, "outside_admin_area")
    assert (await alerts.get(f"/v1/hazards/{hazard['id']}", headers=JN_BOSS)).json() == hazard
    # Qingdao's sightings at those coordinates are scored without it.
    await score(alerts_app, [event := city_event(QINGDAO_SPOT)])
    [qd] = (await _alerts_of(alerts, event["plate"]))["3702"]
    assert hazard["id"] not in orjson.dumps(qd).decode()
    assert (await alerts.delete(f"/v1/hazards/{hazard['id']}", headers=JN_BOSS)).status_code == 204
