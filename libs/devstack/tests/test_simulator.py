"""The camera simulator's generator: contract-valid events, realistic content, the woven-in
scenarios, and malformed messages that fail for the intended reason."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError

from qzx_common.contracts.devices import DEVICE_BY_ID
from qzx_common.contracts.events import ViolationEvent, describe_error
from qzx_common.contracts.geo import haversine_km
from qzx_dev.simulator import EventGenerator, SimClock, SimMessage, StepClock, parse_clock
from qzx_dev.simulator.clock import CST
from qzx_dev.simulator.malformed import CORRUPTIONS
from qzx_ingest.violations import reader as event_reader

# A Monday at midnight, local time, well in the past: two weeks of history at one event a minute.
HISTORY_START = datetime(2025, 3, 3, tzinfo=CST)


def history(n: int = 20_160, *, seed: int = 11, **options: float) -> list[SimMessage]:
    clock = StepClock(HISTORY_START, timedelta(minutes=1))
    return EventGenerator(seed=seed, clock=clock, **options).batch(n)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stream() -> list[SimMessage]:
    return EventGenerator(seed=3, dup_share=0.05, bad_share=0.05).batch(8_000)


@pytest.fixture(scope="module")
def two_weeks() -> list[tuple[SimMessage, ViolationEvent]]:
    msgs = history(dup_share=0, bad_share=0)
    return [(m, ViolationEvent.model_validate_json(m.value)) for m in msgs]


def test_every_generated_event_passes_the_contract(stream: list[SimMessage]) -> None:
    kinds = Counter(m.kind for m in stream)
    assert kinds["valid"] > 7_000 and kinds["duplicate"] > 250 and kinds["malformed"] > 250
    for m in stream:
        if m.kind == "malformed":
            continue
        event = ViolationEvent.model_validate_json(m.value)
        assert event.event_id == m.event_id
        assert m.key == event.device_id.encode()
        device = DEVICE_BY_ID[event.device_id]
        assert event.device_kind == device.kind and event.location.admin_code == device.admin_code
        assert event.captured_at <= datetime.now(UTC)


def test_every_malformed_message_fails_naming_the_intended_field(stream: list[SimMessage]) -> None:
    bad = [m for m in stream if m.kind == "malformed"]
    assert {m.reject for m in bad} == set(CORRUPTIONS)  # each kind of reject reason is exercised
    for m in bad:
        with pytest.raises(ValidationError) as info:
            ViolationEvent.model_validate_json(m.value)
        reason = describe_error(info.value)
        assert m.reason_field and m.reason_field in reason, (m.reject, reason, m.value)


def test_measurements_fit_the_violation(two_weeks: list[tuple[SimMessage, ViolationEvent]]) -> None:
    seen: dict[str, list[ViolationEvent]] = defaultdict(list)
    for _, e in two_weeks:
        seen[e.violation.value].append(e)
    drunk = [e.measurements.bac_mg_100ml for e in seen["drunk_driving"] if e.measurements]
    assert all(b is not None and 20 <= b <= 500 for b in drunk)
    assert any(b < 80 for b in drunk if b) and any(b >= 80 for b in drunk if b)  # drink and drunk
    over = Counter()
    for e in seen["speeding"]:
        m = e.measurements
        assert m and m.speed_kmh and m.speed_limit_kmh
        ratio = m.speed_kmh / m.speed_limit_kmh - 1
        over["<20" if ratio < 0.2 else "20-50" if ratio < 0.5 else ">=50"] += 1
    assert min(over.values()) > 0 and over["<20"] > over["20-50"] > over[">=50"]
    for e in seen["overload"]:
        m = e.measurements
        assert m and m.gross_weight_kg and m.weight_limit_kg
        assert m.gross_weight_kg > 1.3 * m.weight_limit_kg and e.vehicle_class in ("truck", "hazmat")
    kings = [
        e for e in seen["overload"] if e.measurements and (e.measurements.gross_weight_kg or 0) >= 100_000
    ]
    assert kings and all(e.measurements and e.measurements.axles == 6 for e in kings)
    assert all(e.measurements and 95 <= (e.measurements.noise_db or 0) <= 115 for e in seen["noise_modified"])
    riders = [e.measurements.riders for e in seen["ebike_overload"] if e.measurements]
    assert riders and all(r is not None and r >= 3 for r in riders)


def test_plates_have_the_real_format_and_colours(two_weeks: list[tuple[SimMessage, ViolationEvent]]) -> None:
    colours: Counter[str] = Counter()
    for _, e in two_weeks:
        if e.violation.value in ("no_plate", "ebike_red_light", "ebike_wrong_way", "ebike_overload"):
            assert e.plate is None
            continue
        assert e.plate is not None and e.plate_color is not None
        colour, body = e.plate_color.value, e.plate[2:]
        colours[colour] += 1
        if colour == "green":  # small new-energy: 6 characters, D (electric) or F (hybrid) first
            assert len(body) == 6 and body[0] in "DF" and e.vehicle_class == "car"
        elif colour == "yellow-green":  # large new-energy: D or F last
            assert len(body) == 6 and body[-1] in "DF"
        else:
            assert len(body) == 5
        if colour == "blue":
            assert e.vehicle_class in ("car", "other")
        if e.vehicle_class in ("truck", "bus", "motorcycle", "hazmat") and colour != "yellow-green":
            assert colour == "yellow"
    assert {"blue", "yellow", "green", "yellow-green"} <= set(colours)
    local = sum(1 for _, e in two_weeks if e.plate and e.plate.startswith("鲁"))
    assert local > 0.8 * sum(colours.values())


def _share(
    events: list[tuple[SimMessage, ViolationEvent]], violation: str, hours: set[int], weekdays: set[int]
) -> float:
    slot = [
        e
        for _, e in events
        if e.captured_at.astimezone(CST).hour in hours and e.captured_at.astimezone(CST).weekday() in weekdays
    ]
    return sum(1 for e in slot if e.violation.value == violation) / len(slot)


ALL_DAYS, WORKDAYS = set(range(7)), {0, 1, 2, 3, 4}
NIGHT, DAY = {21, 22, 23, 0, 1, 2}, set(range(8, 17))


def test_hourly_patterns_hold(two_weeks: list[tuple[SimMessage, ViolationEvent]]) -> None:
    ev = two_weeks
    assert _share(ev, "drunk_driving", NIGHT, ALL_DAYS) > 4 * _share(ev, "drunk_driving", DAY, ALL_DAYS)
    small_hours, afternoon = {0, 1, 2, 3, 4}, set(range(10, 17))
    assert _share(ev, "overload", small_hours, ALL_DAYS) > 4 * _share(ev, "overload", afternoon, ALL_DAYS)
    assert _share(ev, "speeding", DAY, ALL_DAYS) > 2 * _share(ev, "speeding", small_hours, ALL_DAYS)
    school_run, lessons = {7, 16, 17}, {9, 10, 14, 15}
    assert _share(ev, "ebike_overload", school_run, WORKDAYS) > 4 * _share(
        ev, "ebike_overload", lessons, WORKDAYS
    )
    assert (
        _share(ev, "ebike_overload", school_run, {5, 6})
        < _share(ev, "ebike_overload", school_run, WORKDAYS) / 2
    )
    # Racing: late at night, and far more on Friday/Saturday nights than on weekday nights.
    late = {0, 1, 2, 3}
    assert _share(ev, "street_racing", late, {5, 6}) > 3 * _share(ev, "street_racing", late, {1, 2, 3})
    assert _share(ev, "street_racing", late, ALL_DAYS) > 10 * _share(ev, "street_racing", DAY, ALL_DAYS)


def test_duplicates_replay_an_earlier_event(stream: list[SimMessage]) -> None:
    first: dict[str, SimMessage] = {}
    for m in stream:
        if m.kind == "valid":
            assert m.event_id not in first  # a valid event id is never reused by a new event
            first[m.event_id] = m  # type: ignore[index]
        elif m.kind == "duplicate":
            original = first[m.event_id]  # type: ignore[index]
            assert (m.key, m.value) == (original.key, original.value)
    dup_share = sum(m.kind == "duplicate" for m in stream) / len(stream)
    assert 0.04 < dup_share < 0.06


def test_cloned_plates_are_at_an_impossible_speed_apart(
    two_weeks: list[tuple[SimMessage, ViolationEvent]],
) -> None:
    pairs: dict[int, list[ViolationEvent]] = defaultdict(list)
    for m, e in two_weeks:
        if m.scenario == "clone":
            pairs[m.group].append(e)  # type: ignore[index]
    assert len(pairs) >= 10
    for a, b in pairs.values():
        assert a.plate == b.plate and a.location.admin_code[:4] != b.location.admin_code[:4]
        km = haversine_km(a.location.lat, a.location.lon, b.location.lat, b.location.lon)
        hours = abs((b.captured_at - a.captured_at).total_seconds()) / 3600
        assert 0 < hours <= 10 / 60 and km / hours > 600  # no car covers that


def test_racing_groups_pass_one_camera_within_a_minute(
    two_weeks: list[tuple[SimMessage, ViolationEvent]],
) -> None:
    groups: dict[int, list[ViolationEvent]] = defaultdict(list)
    for m, e in two_weeks:
        if m.scenario == "racing":
            groups[m.group].append(e)  # type: ignore[index]
    assert len(groups) >= 10
    for members in groups.values():
        assert 2 <= len(members) <= 4
        assert len({e.device_id for e in members}) == 1 and len({e.plate for e in members}) == len(members)
        times = [e.captured_at for e in members]
        assert max(times) - min(times) <= timedelta(minutes=1)
        assert all(e.violation.value == "street_racing" for e in members)


def test_repeat_offenders_recur(two_weeks: list[tuple[SimMessage, ViolationEvent]]) -> None:
    plates = Counter(e.plate for m, e in two_weeks if e.plate and m.scenario == "repeat")
    assert plates.most_common(1)[0][1] >= 20  # the worst offender keeps turning up
    assert sum(1 for n in plates.values() if n >= 3) >= 30


def test_same_seed_same_stream_and_other_seed_differs() -> None:
    a = [m.value for m in history(500)]
    assert a == [m.value for m in history(500)]
    assert a != [m.value for m in history(500, seed=12)]


def test_clock_never_runs_ahead_of_real_time() -> None:
    fast = SimClock(datetime.now(UTC) - timedelta(seconds=1), speedup=1e6)
    assert fast.now() <= datetime.now(UTC)
    stepping = StepClock(datetime.now(UTC) - timedelta(minutes=1), timedelta(hours=1))
    stepping.now()
    assert stepping.now() <= datetime.now(UTC)
    future_start = EventGenerator(seed=1, clock=SimClock(datetime.now(UTC) + timedelta(days=1))).batch(50)
    for m in future_start:
        if m.kind != "malformed":
            assert ViolationEvent.model_validate_json(m.value).captured_at <= datetime.now(UTC)


def test_parse_clock() -> None:
    c = parse_clock("2025-11-01T00:00*360")
    assert c.start == datetime(2025, 11, 1, tzinfo=CST) and c.speedup == 360
    assert parse_clock("2025-11-01T00:00:00+00:00", 60).speedup == 60
    assert parse_clock("now").start is None
    with pytest.raises(ValueError, match="neither 'now'"):
        parse_clock("yesterday")


def test_malformed_json_is_cut_on_a_character_boundary() -> None:
    gen = EventGenerator(seed=5, dup_share=0, bad_share=0.99)
    cut = [m for m in gen.batch(2_000) if m.reject == "malformed_json"]
    assert cut
    for m in cut:
        m.value.decode()  # valid UTF-8, invalid JSON
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(m.value)


def _read(raw: bytes, *, fast: bool) -> tuple[str, object]:
    """The outcome of the event reader (``fast``) or of the ViolationEvent model alone."""
    try:
        if fast:
            e = event_reader.read_event(raw)
            return "accepted", (
                e.event_id,
                e.device_id,
                e.violation,
                e.plate,
                e.location.admin_code,
                e.location.lat,
                e.location.lon,
                e.payload,
            )
        m = ViolationEvent.model_validate_json(raw)
        payload = m.model_dump_json(exclude_none=True).encode()
        return "accepted", (
            m.event_id,
            m.device_id,
            m.violation.value,
            m.plate,
            m.location.admin_code,
            m.location.lat,
            m.location.lon,
            payload,
        )
    except ValidationError as exc:
        return "rejected", describe_error(exc)


def test_the_simulated_stream_reads_the_same_and_takes_the_fast_path() -> None:
    """ingest's reader answers the simulator's stream (malformed messages included) as the model
    does, and every valid event, in the cameras' canonical form, needs no model."""
    messages = EventGenerator(seed=5, dup_share=0.02, bad_share=0.2).batch(3000)
    for m in messages:
        assert _read(m.value, fast=True) == _read(m.value, fast=False), m.value
    valid = [m.value for m in messages if m.kind == "valid"]
    fast = sum(event_reader._read_canonical(v) is not None for v in valid)
    assert fast == len(valid), "camera JSON in canonical form should not need the model"
