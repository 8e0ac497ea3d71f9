"""Each factor, the floors, the correlation rules and deduplication: pure functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from qzx_alerts.alerts.lifecycle import TaskState, derive, fold
from qzx_alerts.alerts.merge import merge
from qzx_alerts.history.repository import SAME_PLATE_LIMIT
from qzx_alerts.scoring.correlation import Seen, clone_proposals, passage, racing_proposal, travel_bar_s
from qzx_alerts.scoring.domain import Context, HazardIndex, HazardPoint, HotlistHit, Sighting
from qzx_alerts.scoring.factors import score_event
from qzx_alerts.scoring.rules import load_rules
from qzx_alerts.scoring.service import (
    may_join_stored,
    prepare_batch,
    prepare_batch_stepwise,
    violation_proposal,
)
from qzx_common.contracts.alerts import Priority

RULES = load_rules()
CST = timezone(timedelta(hours=8))
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=CST)  # a Wednesday


def sighting(violation: str = "red_light", at: datetime = NOON, **kw: Any) -> Sighting:
    base: dict[str, Any] = {
        "event_id": kw.pop("event_id", f"e-{violation}-{at.timestamp()}"),
        "device_id": "370102-CK-0001",
        "violation": violation,
        "plate": "鲁A12345",
        "captured_at": at,
        "lat": 36.651,
        "lon": 117.12,
        "admin_code": "370102",
        "vehicle_class": "car",
    }
    return Sighting(**(base | kw))


def factors(s: Sighting, ctx: Context | None = None) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in score_event(s, ctx or Context(), RULES).factors}


@pytest.mark.parametrize(
    ("bac", "points", "priority"),
    [(10, 20, Priority.P4), (35, 40, Priority.P2), (80, 60, Priority.P1), (95, 60, Priority.P1)],
)
def test_bac_grades_and_floors(bac: float, points: float, priority: Priority) -> None:
    scored = score_event(sighting("drunk_driving", measurements={"bac_mg_100ml": bac}), Context(), RULES)
    assert scored.factors[0]["contribution"] == points
    assert scored.priority == priority


@pytest.mark.parametrize(("speed", "points"), [(130, 10), (150, 25), (179, 25), (180, 40)])
def test_speeding_grades_by_percent_over(speed: float, points: float) -> None:
    f = factors(sighting("speeding", measurements={"speed_kmh": speed, "speed_limit_kmh": 120}))["severity"]
    assert f["contribution"] == points
    assert f["value"] == pytest.approx((speed - 120) / 120 * 100, abs=0.1)


def test_overload_grades_and_the_hundred_ton_king() -> None:
    light = factors(sighting("overload", measurements={"gross_weight_kg": 55000, "weight_limit_kg": 49000}))
    serious = factors(sighting("overload", measurements={"gross_weight_kg": 70000, "weight_limit_kg": 49000}))
    king = score_event(
        sighting("overload", measurements={"gross_weight_kg": 101000, "weight_limit_kg": 49000}),
        Context(),
        RULES,
    )
    assert light["severity"]["contribution"] == 10 and "overload" in light["severity"]["why"]
    assert serious["severity"]["contribution"] == 30 and "serious" in serious["severity"]["why"]
    assert king.factors[0]["contribution"] == 55 and "hundred-ton" in king.factors[0]["why"]
    assert king.priority == Priority.P1


@pytest.mark.parametrize(("db", "points"), [(85, 15), (95, 25), (104.5, 35)])
def test_noise_grades(db: float, points: float) -> None:
    assert (
        factors(sighting("noise_modified", measurements={"noise_db": db}))["severity"]["contribution"]
        == points
    )


def test_ebike_riders_add_points_and_pupils_at_school_time() -> None:
    morning = NOON.replace(hour=7, minute=40)
    s = sighting("ebike_red_light", at=morning, plate=None, vehicle_class="ebike", measurements={"riders": 4})
    f = factors(s)
    assert f["severity"]["contribution"] == 8 + 15
    assert f["school_commute"]["contribution"] == 15 and "pupils" in f["school_commute"]["why"]
    assert "school_commute" not in factors(
        sighting("ebike_red_light", at=NOON, plate=None, measurements={"riders": 4})
    )
    saturday = morning + timedelta(days=3)
    assert "school_commute" not in factors(
        sighting("ebike_red_light", at=saturday, measurements={"riders": 4})
    )
    assert "school_commute" not in factors(
        sighting("ebike_red_light", at=morning, measurements={"riders": 1})
    )


def test_repeat_offender_points_grow_with_history_and_cap() -> None:
    assert "repeat_offender" not in factors(sighting(), Context(prior_violations=0))
    assert factors(sighting(), Context(prior_violations=2))["repeat_offender"]["contribution"] == 8
    assert factors(sighting(), Context(prior_violations=40))["repeat_offender"]["contribution"] == 20


def test_hotlist_sets_a_floor_and_hides_covert_details() -> None:
    open_hit = HotlistHit("h1", "鲁A12345", Priority.P1, "hit-and-run", "province", covert=False, scope="37")
    covert = HotlistHit("h2", "鲁A12345", Priority.P2, "informant case", "ministry", covert=True, scope="37")
    scored = score_event(sighting(), Context(hotlist=[open_hit]), RULES)
    assert scored.priority == Priority.P1 and "hit-and-run" in scored.factors[1]["why"]
    hidden = score_event(sighting(), Context(hotlist=[covert]), RULES)
    hot = next(f for f in hidden.factors if f["name"] == "hotlist")
    assert hidden.priority == Priority.P2 and "informant" not in hot["why"] and hot["value"] == "covert"


def test_night_hours_wrap_midnight() -> None:
    assert "night" in factors(sighting(at=NOON.replace(hour=23)))
    assert "night" in factors(sighting(at=NOON.replace(hour=4, minute=59)))
    assert "night" not in factors(sighting(at=NOON.replace(hour=5)))
    # The same instant written in UTC is still night in Shandong.
    assert "night" in factors(sighting(at=NOON.replace(hour=23).astimezone(UTC)))


def test_hazard_points_within_radius_pick_the_riskiest() -> None:
    index = HazardIndex(
        [
            HazardPoint("hz1", "bend", 36.652, 117.12, 300, "low", "stock", "3701"),
            HazardPoint("hz2", "crossing", 36.653, 117.121, 400, "high", "new", "3701"),
            HazardPoint("hz3", "far", 36.7, 117.2, 300, "high", "stock", "3701"),
            HazardPoint("hz4", "over the line", 36.652, 117.12, 300, "high", "new", "3703"),
        ]
    )
    near = index.near(36.651, 117.12, "370102")
    assert {p.id for p, _ in near} == {"hz1", "hz2"}
    f = factors(sighting(), Context(hazards=near))["hazard"]
    assert f["value"] == "hz2" and f["contribution"] == 12 + 2 and "high-risk new" in f["why"]


def test_vehicle_class_hazmat_bus_heavy_truck() -> None:
    assert factors(sighting(vehicle_class="hazmat"))["vehicle_class"]["contribution"] == 15
    assert factors(sighting(vehicle_class="bus"))["vehicle_class"]["contribution"] == 10
    heavy = sighting("overload", vehicle_class="truck", measurements={"gross_weight_kg": 30000, "axles": 3})
    assert factors(heavy)["vehicle_class"]["value"] == "heavy_truck"
    assert "vehicle_class" not in factors(sighting(vehicle_class="truck", measurements={"axles": 2}))


def test_low_confidence_lowers_the_score_and_score_is_clamped() -> None:
    f = factors(sighting(confidence=0.5))
    assert f["low_confidence"]["contribution"] == -10
    weak = score_event(sighting("ebike_red_light", plate=None, confidence=0.2), Context(), RULES)
    assert weak.score == 0
    strong = score_event(
        sighting(
            "drunk_driving",
            at=NOON.replace(hour=23),
            vehicle_class="hazmat",
            measurements={"bac_mg_100ml": 200},
        ),
        Context(prior_violations=10),
        RULES,
    )
    assert strong.score == 100


def _seen(s: Sighting) -> Seen:
    return Seen(s.event_id, s.plate, s.violation, s.device_id, s.lat, s.lon, s.admin_code, s.captured_at)


def test_clone_when_travel_is_impossible_by_distance_or_by_learned_times() -> None:
    jinan = sighting(event_id="a", device_id="D-JN")
    qingdao = sighting(
        event_id="b",
        device_id="D-QD",
        lat=36.07,
        lon=120.38,
        admin_code="370202",
        at=NOON + timedelta(minutes=10),
    )
    jn, qd = clone_proposals(qingdao, _seen(jinan), None, RULES)  # one finding per city
    for p in (jn, qd):
        assert p.kind == "plate_fraud" and p.priority == Priority.P1
    assert (jn.dedup_key, jn.admin_code, jn.seed, jn.event_ids) == (
        "fraud:370100:鲁A12345",
        "370102",
        "a",
        ["a"],
    )
    assert (qd.dedup_key, qd.admin_code, qd.seed, qd.event_ids) == (
        "fraud:370200:鲁A12345",
        "370202",
        "b",
        ["b"],
    )
    # Each city's explanation names its own device, and of the other city only the city and time.
    assert "D-JN" in jn.factors[0]["why"] and "D-QD" not in jn.factors[0]["why"]
    assert "in Qingdao 12:10:00" in jn.factors[0]["why"]
    assert "D-QD" in qd.factors[0]["why"] and "D-JN" not in qd.factors[0]["why"]
    # Within one city: one finding with both sightings.
    east = sighting(
        event_id="e",
        device_id="D-JN2",
        lat=36.70,
        lon=117.60,
        admin_code="370112",
        at=NOON + timedelta(minutes=1),
    )
    (p,) = clone_proposals(east, _seen(jinan), None, RULES)
    assert (p.dedup_key, p.event_ids, p.admin_code, p.seed) == (
        "fraud:370100:鲁A12345",
        ["a", "e"],
        "370112",
        "a",
    )
    later = sighting(event_id="c", device_id="D-QD", lat=36.07, lon=120.38, at=NOON + timedelta(hours=3))
    assert clone_proposals(later, _seen(jinan), None, RULES) == []
    # 60 km in 20 min is possible at 250 km/h, but not if the fastest observed passage took 60 min.
    taian = sighting(event_id="d", device_id="D-TA", lat=36.20, lon=117.09, at=NOON + timedelta(minutes=20))
    assert clone_proposals(taian, _seen(jinan), None, RULES) == []
    assert clone_proposals(taian, _seen(jinan), (3600.0, 1), RULES) == []  # too few passages to trust
    assert clone_proposals(taian, _seen(jinan), (3600.0, 5), RULES) != []
    bar, basis = travel_bar_s(50, (3600.0, 5), RULES)
    assert bar == 1800 and "observed passages" in basis


def test_passages_are_learned_only_when_plausible() -> None:
    a = sighting(event_id="a", device_id="D1")
    b = sighting(event_id="b", device_id="D2", lat=36.80, at=NOON + timedelta(minutes=30))
    assert passage(b, [_seen(a)], {}, RULES) == (("D1", "D2"), 1800.0)
    too_fast = sighting(event_id="c", device_id="D2", lat=37.5, at=NOON + timedelta(minutes=5))
    assert passage(too_fast, [_seen(a)], {}, RULES) is None


def test_racing_group_needs_two_plates_and_names_them_all() -> None:
    s1 = sighting(
        "street_racing", event_id="r1", plate="鲁A00001", group_key="seg:370100:G2:206", road="G2", km=412.3
    )
    s2 = sighting(
        "speeding",
        event_id="r2",
        plate="鲁A00002",
        at=NOON + timedelta(seconds=30),
        group_key="seg:370100:G2:206",
    )
    s3 = sighting(
        "noise_modified",
        event_id="r3",
        plate="鲁A00001",
        at=NOON + timedelta(seconds=40),
        group_key="seg:370100:G2:206",
    )
    assert racing_proposal(s1, [_seen(s1), _seen(s3)], Context(), RULES) is None  # one plate twice
    p = racing_proposal(s2, [_seen(s1), _seen(s2), _seen(s3)], Context(), RULES)
    assert p is not None and p.plates == ["鲁A00001", "鲁A00002"] and p.event_ids == ["r1", "r2", "r3"]
    assert p.priority == Priority.P2 and "2 plates" in p.factors[0]["why"]


def test_open_alerts_are_looked_up_only_where_the_history_allows_one() -> None:
    s = sighting("drunk_driving")
    window = timedelta(seconds=RULES.dedup.window_s)

    def seen(violation: str, at: datetime, n: int = 0) -> Seen:
        return Seen(f"o{n}", s.plate, violation, "dev-2", s.lat, s.lon, s.admin_code, at)

    assert not may_join_stored(s, [], RULES)  # the plate's first sighting in hours
    assert not may_join_stored(s, [seen("speeding", NOON)], RULES)  # another violation's key
    assert not may_join_stored(s, [seen("drunk_driving", NOON - window - timedelta(seconds=1))], RULES)
    assert may_join_stored(s, [seen("drunk_driving", NOON - window)], RULES)
    assert may_join_stored(s, [seen("drunk_driving", NOON + window)], RULES)  # arrived late, stored first
    # The lookup's limit may have cut off the one that matters.
    crowd = [seen("speeding", NOON, n) for n in range(SAME_PLATE_LIMIT)]
    assert may_join_stored(s, crowd, RULES)
    assert may_join_stored(sighting("drunk_driving", plate=None), [], RULES)  # a device's key: no history


def test_dedup_updates_the_open_alert_and_ignores_redelivery() -> None:
    def proposal(eid: str, minutes: float, bac: float = 30) -> Any:
        s = sighting(
            "drunk_driving",
            event_id=eid,
            at=NOON + timedelta(minutes=minutes),
            measurements={"bac_mg_100ml": bac},
        )
        return violation_proposal(s, score_event(s, Context(), RULES), RULES, [])

    (first,) = merge([], [proposal("e1", 0)], max_event_ids=10)
    (same,) = merge([first], [proposal("e2", 5, bac=90)], max_event_ids=10)
    assert same.id == first.id and same.count == 2 and same.event_ids == ["e1", "e2"]
    assert same.priority == Priority.P1 and same.factors[0]["value"] == 90  # explained by the worst event
    assert merge([same], [proposal("e2", 5, bac=90)], max_event_ids=10) == []  # redelivered: nothing changes
    (other,) = merge([same], [proposal("e3", 30)], max_event_ids=10)  # 25 min after: a new alert
    assert other.id != first.id and other.count == 1


def _task(tid: str, status: str, version: int, minute: int, **kw: Any) -> TaskState:
    at = NOON + timedelta(minutes=minute)
    return TaskState(
        task_id=tid,
        alert_id="A",
        unit_id="U1",
        status=status,
        version=version,
        escalated=kw.get("escalated", False),
        outcome=kw.get("outcome"),
        assigned_at=at if status == "assigned" else None,
        signed_at=at if status in ("signed", "en_route", "on_scene", "resolved") else None,
        resolved_at=at if status == "resolved" else None,
        escalated_at=at if kw.get("escalated") else None,
    )


def test_lifecycle_is_the_same_whatever_the_order_of_task_events() -> None:
    events = [
        _task("t1", "assigned", 1, 0),
        _task("t1", "signed", 2, 1),
        _task("t1", "on_scene", 3, 5),
        _task("t1", "resolved", 4, 9, outcome="ticketed"),
    ]
    in_order = events[0]
    for e in events[1:]:
        in_order = fold(in_order, e)
    reversed_ = events[-1]
    for e in reversed(events[:-1]):
        reversed_ = fold(reversed_, e)
    assert in_order == reversed_
    d = derive([in_order])
    assert (d.status, d.outcome, d.task_id) == ("resolved", "ticketed", "t1")
    assert d.signed_at == NOON + timedelta(minutes=1) and d.dispatched_at == NOON
    assert derive([events[0]]).status == "dispatched"
    assert derive([fold(events[0], events[1])]).status == "signed"
    assert derive([_task("t1", "assigned", 2, 0, escalated=True)]).status == "escalated"
    assert derive([_task("t1", "reassigned", 3, 2)]).status == "dispatched"
    assert derive([_task("t1", "reassigned", 3, 2), _task("t2", "signed", 2, 4)]).task_id == "t2"
    assert derive([_task("t1", "cancelled", 2, 2)]).status == "new"


async def test_stepwise_preparation_reads_a_batch_as_one_pass_does(make: Any) -> None:
    first = make.accepted(plate=make.plate("W"), violation="street_racing", measurements={})
    second = make.accepted(plate=make.plate("W"))
    values = [first, b"{not json", second, first, None]
    whole = prepare_batch(values, RULES)
    stepwise = await prepare_batch_stepwise(values, RULES, step=1)
    assert (stepwise.received, stepwise.unreadable) == (whole.received, whole.unreadable) == (5, 2)
    assert stepwise.sightings == whole.sightings  # one per event id, in batch order
    assert [s.event_id for s in whole.sightings] == [orjson.loads(v)["event_id"] for v in (first, second)]
    racer = whole.sightings[0]
    assert racer.group_key and racer.own is not None  # pre-scored before any database work
    assert score_event(racer, Context(), RULES).factors[0]["name"] == "severity"
