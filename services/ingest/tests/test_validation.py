"""Every reject reason names its field (unit tests of the contract, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from qzx_dev.samples import make_event
from qzx_ingest.violations.service import validate


def reason(event: Any) -> str:
    raw = event if isinstance(event, bytes) else orjson.dumps(event)
    outcome = validate(raw)
    assert isinstance(outcome, str), f"expected a reject, got {outcome!r}"
    return outcome


def without(key: str) -> dict[str, Any]:
    e = make_event()
    del e[key]
    return e


def test_valid_event_passes() -> None:
    event = validate(orjson.dumps(make_event()))
    assert not isinstance(event, str)
    assert event.plate == "鲁A" + event.plate[2:]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "body: must be a JSON object"),
        (None, "body: empty message"),
        (without("event_id"), "event_id: required field missing"),
        (without("device_id"), "device_id: required field missing"),
        (without("captured_at"), "captured_at: required field missing"),
        (without("violation"), "violation: required field missing"),
        (without("location"), "location: required field missing"),
        (make_event(event_id=42), "event_id: Input should be a valid string"),
        (make_event(violation="jaywalking"), "violation: Input should be"),
        (make_event(device_kind="drone"), "device_kind: Input should be"),
        (make_event(plate="ABC123"), "plate: not a valid plate"),
        (make_event(plate="鲁I12345"), "plate: not a valid plate"),
        (make_event(plate=None), "plate: required for violation drunk_driving"),
        (make_event(plate_color="pink"), "plate_color: Input should be"),
        (make_event(location={"lat": 39.9, "lon": 116.4, "admin_code": "370102"}), "location.lat"),
        (make_event(location={"lat": 36.6, "lon": 113.0, "admin_code": "370102"}), "location.lon"),
        (
            make_event(location={"lat": 36.6, "lon": 117.1, "admin_code": "110101"}),
            "location.admin_code: must be a 6-digit code inside the province",
        ),
        (make_event(location={"lat": "north", "lon": 117.1, "admin_code": "370102"}), "location.lat"),
        (make_event(captured_at="2026-11-28T20:15:02"), "captured_at: Input should have timezone info"),
        (
            make_event(captured_at=datetime.now(UTC) + timedelta(minutes=30)),
            "captured_at: more than 5 minutes",
        ),
        (make_event(measurements={"gross_weight_kg": -5}), "measurements.gross_weight_kg"),
        (make_event(measurements={"bac_mg_100ml": 501}), "measurements.bac_mg_100ml"),
        (make_event(measurements={"speed_kmh": 900}), "measurements.speed_kmh"),
        (make_event(measurements={"riders": 0}), "measurements.riders"),
        (
            make_event(violation="speeding", measurements={"speed_kmh": 80, "speed_limit_kmh": 100}),
            "measurements.speed_kmh: not above",
        ),
        (make_event(confidence=1.5), "confidence"),
        (
            make_event(evidence=[{"uri": "s3://x", "sha256": "abc"}]),
            "evidence.0.sha256: must be 64 lowercase hex",
        ),
        (make_event(unexpected=1), "unexpected: unknown field"),
    ],
)
def test_reject_reason_names_the_field(payload: Any, expected: str) -> None:
    got = reason(payload) if payload is not None else validate(None)
    assert isinstance(got, str)
    assert expected.replace("Value error, ", "") in got


def test_plateless_allowed_for_no_plate_and_ebikes() -> None:
    for violation in ("no_plate", "ebike_red_light", "ebike_wrong_way", "ebike_overload"):
        assert not isinstance(validate(orjson.dumps(make_event(violation=violation, plate=None))), str)


def test_nul_character_is_refused_with_its_field() -> None:
    assert reason(
        make_event(location={"lat": 36.6, "lon": 117.1, "admin_code": "370102", "road": "G2\x00"})
    ) == ("location.road: contains a NUL character (U+0000)")
    assert "evidence.0.uri: contains a NUL" in reason(
        make_event(evidence=[{"uri": "s3://\x00", "sha256": "a" * 64}])
    )


def test_green_new_energy_plate_and_normalisation() -> None:
    event = validate(orjson.dumps(make_event(plate=" 鲁b·d12345 ", plate_color="green")))
    assert not isinstance(event, str)
    assert event.plate == "鲁BD12345"
