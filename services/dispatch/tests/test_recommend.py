"""Every assignment rule on the pure ranking (no database): capability, sworn officer, duty and
availability, jurisdiction and neighbours, travel time then workload, reserve, posts, intercepts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from qzx_common.contracts.devices import DEVICES, Device
from qzx_common.contracts.geo import CITY_BY_CODE
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks.intercept import angle_between, bearing_deg, heading, points_ahead
from qzx_dispatch.tasks.recommend import Candidate, recommend
from qzx_dispatch.tasks.rules import TARGET_SPEED_KMH, deadlines, is_enforcement, is_moving, needs
from qzx_dispatch.tasks.service import build_need

from .conftest import make_alert

SETTINGS = DispatchSettings(reserve_units=2)


def unit(uid: str, **kw: Any) -> Candidate:
    base: dict[str, Any] = {
        "unit_id": uid,
        "city_code": "370100",
        "vehicle": "car",
        "capabilities": frozenset({"breathalyser", "weighing", "pursuit", "interception", "ebike"}),
        "lat": 36.66,
        "lon": 117.12,
        "status": "available",
        "busy": False,
        "has_sworn": True,
    }
    return Candidate(**(base | kw))


def ranked_ids(cands: list[Candidate], alert: Any, **need_kw: Any) -> list[str]:
    need = build_need(alert, settings=SETTINGS)
    for k, v in need_kw.items():
        setattr(need, k, v)
    return [r.unit_id for r in recommend(cands, need).ranked]


@pytest.mark.parametrize(
    ("violation", "kind", "needed"),
    [
        ("drunk_driving", "violation", {"breathalyser"}),
        ("overload", "violation", {"weighing"}),
        ("street_racing", "violation", {"pursuit"}),
        ("ebike_wrong_way", "violation", {"ebike"}),
        ("speeding", "violation", set()),
        ("fake_plate", "plate_fraud", {"interception"}),
        ("speeding", "hotlist", {"interception"}),
        ("street_racing", "racing_group", {"pursuit"}),
    ],
)
def test_capabilities_needed(violation: str, kind: str, needed: set[str]) -> None:
    alert = make_alert(violations=[violation], kind=kind)
    assert needs(alert) == needed
    missing = frozenset({"breathalyser", "weighing", "pursuit", "interception", "ebike"} - needed)
    ids = ranked_ids(
        [unit("has", capabilities=frozenset(needed)), unit("lacks", capabilities=missing)], alert
    )
    assert ids == ["has"] if needed else set(ids) == {"has", "lacks"}


def test_enforcement_needs_a_sworn_officer_but_ebike_persuasion_does_not() -> None:
    cands = [unit("aux", has_sworn=False), unit("sworn", lat=36.7)]
    assert ranked_ids(cands, make_alert()) == ["sworn"]
    ebike = make_alert(violations=["ebike_red_light"], plate=None, priority="P1")
    assert not is_enforcement(ebike)
    assert ranked_ids(cands, ebike) == ["aux", "sworn"]
    assert is_enforcement(make_alert(violations=["ebike_red_light", "red_light"]))


def test_busy_unavailable_and_excluded_units_never_rank() -> None:
    cands = [
        unit("busy", busy=True),
        unit("off", status="unavailable"),
        unit("had", lat=36.7),
        unit("ok", lat=36.8),
    ]
    need_ids = ranked_ids(cands, make_alert(), exclude=frozenset({"had"}))
    assert need_ids == ["ok"]


def test_static_alerts_stay_in_their_city_moving_targets_reach_neighbours() -> None:
    static = make_alert()
    moving = make_alert(violations=["street_racing"])
    zibo = unit("zibo", city_code="370300", lat=36.81, lon=118.05)
    qingdao = unit("qingdao", city_code="370200", lat=36.07, lon=120.38)
    assert ranked_ids([zibo, qingdao], static) == []
    assert is_moving(moving) and ranked_ids([zibo, qingdao], moving) == ["zibo"]


def test_travel_time_first_then_workload_within_the_same_minute() -> None:
    alert = make_alert()
    near_busy = unit("near-busy", lat=36.6515, lon=117.1205, workload=5)
    near_idle = unit("near-idle", lat=36.6520, lon=117.1210, workload=0)
    far_idle = unit("far-idle", lat=36.70, lon=117.18, workload=0)
    assert ranked_ids([far_idle, near_busy, near_idle], alert) == ["near-idle", "near-busy", "far-idle"]
    rec = recommend([far_idle, near_busy, near_idle], build_need(alert, settings=SETTINGS))
    assert rec.ranked[0].travel_s < 60 < rec.ranked[2].travel_s


def test_expressway_units_travel_faster_than_urban_ones() -> None:
    on_g = make_alert(location={"road": "G2"})
    urban = make_alert(location={"road": "Jingshi Rd"})
    c = unit("u", lat=36.70, lon=117.12)
    t_g = recommend([c], build_need(on_g, settings=SETTINGS)).ranked[0].travel_s
    t_u = recommend([c], build_need(urban, settings=SETTINGS)).ranked[0].travel_s
    assert t_u > 2 * t_g


@pytest.mark.parametrize(
    ("priority", "free", "ranked"),
    [("P1", 2, 2), ("P2", 2, 2), ("P3", 2, 0), ("P4", 2, 0), ("P3", 3, 3), ("P4", 3, 3)],
)
def test_reserve_low_priorities_never_take_the_last_units(priority: str, free: int, ranked: int) -> None:
    """Reserve 2: a P3/P4 may take a unit only if two stay available in the city afterwards."""
    cands = [unit(f"u{i}", lat=36.66 + i * 0.01) for i in range(free)] + [unit("busy", busy=True)]
    rec = recommend(cands, build_need(make_alert(priority=priority), settings=SETTINGS))
    assert len(rec.ranked) == ranked
    if ranked == 0:
        assert len(rec.reserved) == free and "fewer than 2, for a " + priority in rec.reserved[0][1]


def test_a_checkpoint_post_takes_only_what_happens_at_its_post() -> None:
    post = unit("post", vehicle="checkpoint_post", lat=36.651, lon=117.1205)
    far_post = unit("far-post", vehicle="checkpoint_post", lat=36.70, lon=117.12)
    car = unit("car", lat=36.66)
    assert ranked_ids([car, post, far_post], make_alert()) == ["post", "car"]


def test_heading_from_the_previous_sighting_and_intercept_points_ahead() -> None:
    spoke = [d for d in DEVICES if d.admin_code == "370102"]
    prev, cur = spoke[1], spoke[3]  # inbound → outbound along the spoke
    alert = make_alert(
        kind="hotlist",
        violations=["speeding"],
        event_ids=[f"{prev.device_id}-20261128T201502-000001", f"{cur.device_id}-20261128T201802-000002"],
        location={
            "lat": cur.lat,
            "lon": cur.lon,
            "admin_code": cur.admin_code,
            "road": cur.road,
            "device_id": cur.device_id,
        },
    )
    h = heading(alert)
    assert h is not None and angle_between(h, bearing_deg(prev.lat, prev.lon, cur.lat, cur.lon)) < 1
    ahead = points_ahead(alert)
    assert ahead and ahead[0].device_id == spoke[-1].device_id  # the checkpoint at the end of the spoke
    # A unit already near that checkpoint is chosen over one near the sighting but behind the vehicle.
    at_checkpoint = unit("ahead", lat=spoke[-1].lat, lon=spoke[-1].lon)
    behind = unit("behind", lat=spoke[0].lat, lon=spoke[0].lon)
    need = build_need(alert, settings=SETTINGS)
    rec = recommend([behind, at_checkpoint], need)
    assert rec.ranked[0].unit_id == "ahead" and rec.ranked[0].in_time
    assert rec.ranked[0].point is not None and rec.ranked[0].point.device_id == spoke[-1].device_id


def test_an_inbound_or_outbound_passage_heads_toward_or_away_from_the_city_centre() -> None:
    cur = [d for d in DEVICES if d.admin_code == "370102"][3]
    where = {"lat": cur.lat, "lon": cur.lon, "admin_code": cur.admin_code, "road": cur.road, "device_id": cur.device_id}  # fmt: skip
    city = CITY_BY_CODE["370100"]
    away = bearing_deg(city.lat, city.lon, cur.lat, cur.lon)
    for direction, expected in (("outbound", away), ("inbound", (away + 180) % 360)):
        factor = {
            "name": "direction",
            "value": direction,
            "contribution": 0,
            "why": f"travelling {direction}",
        }
        alert = make_alert(kind="hotlist_hit", factors=[factor], event_ids=["p-1"], location=where)
        h = heading(alert)
        assert h is not None and angle_between(h, expected) < 1, direction


def test_the_checkpoints_on_the_vehicles_road_come_first_with_its_road_time() -> None:
    """Heading east on G2 at km 10: the G2 checkpoint 15 km on is where it passes, though a
    provincial road's checkpoint is nearer in a straight line; behind it or off the cone, none."""

    def at(device_id: str, lon: float, road: str, km: float, lat: float = 36.6) -> Device:
        return Device(device_id, "checkpoint", lat, lon, "370102", road, km)

    deg_per_km = 1 / (111.32 * math.cos(math.radians(36.6)))
    devices = [
        at("G2-ahead", 117.0 + 15 * deg_per_km, "G2", 25.0),
        at("S101-near", 117.0 + 5 * deg_per_km, "S101", 3.0),
        at("G2-behind", 117.0 - 8 * deg_per_km, "G2", 2.0),
        at("north", 117.0, "S102", 4.0, lat=36.6 + 0.05),
    ]
    heading_east = {"name": "heading_deg", "value": 90, "contribution": 0, "why": "heading 90°"}
    alert = make_alert(
        kind="hotlist_hit",
        factors=[heading_east],
        location={"lat": 36.6, "lon": 117.0, "road": "G2", "km": 10.0, "device_id": "here"},
    )
    ahead = points_ahead(alert, limit=3, devices=devices)
    assert [p.device_id for p in ahead] == ["G2-ahead", "S101-near"]
    assert ahead[0].target_eta_s == pytest.approx(15 / TARGET_SPEED_KMH["expressway"] * 3600)


def test_deadlines_come_from_the_alert_else_priority_defaults() -> None:
    assert deadlines(make_alert(priority="P1")) == (60, 1800)
    assert deadlines(make_alert(priority="P4")) == (900, 86400)
    assert deadlines(make_alert(sign_deadline_s=30, feedback_deadline_s=900)) == (30, 900)
