"""AccidentReport validation: every refusal names its field (unit tests, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from qzx_dev.samples import make_accident
from qzx_ingest.accidents.service import Accepted, validate


def refusal(**over: Any) -> str:
    outcome = validate(orjson.dumps(make_accident(**over)))
    assert isinstance(outcome, str), outcome
    return outcome


def test_a_valid_report_is_normalised() -> None:
    outcome = validate(orjson.dumps(make_accident(vehicles=[{"plate": "鲁a 12345", "vehicle_class": "car"}])))
    assert isinstance(outcome, Accepted)
    stored = orjson.loads(outcome.payload)
    assert stored["vehicles"] == [{"plate": "鲁A12345", "vehicle_class": "car"}]  # normalised, nulls left out
    assert outcome.report.major is False


def test_major_is_three_or_more_deaths() -> None:
    for killed, major in ((2, False), (3, True)):
        outcome = validate(orjson.dumps(make_accident(severity="fatal", killed=killed)))
        assert isinstance(outcome, Accepted) and outcome.report.major is major


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"severity": "fatal", "killed": 0}, "killed: a fatal accident has at least one death"),
        ({"severity": "injury", "killed": 1}, "severity: injury with 1 killed"),
        ({"severity": "injury", "injured": 0}, "injured: an injury accident"),
        ({"severity": "property_only"}, "severity: property_only with 2 injured"),
        ({"severity": "minor"}, "severity:"),
        ({"road_feature": "bridge"}, "road_feature:"),
        ({"injured": -1}, "injured:"),
        ({"accident_id": "a/b"}, "accident_id: may contain only letters"),
        ({"ebike_involved": False}, "ebike_involved: false, but a vehicle is an e-bike"),
        ({"vehicles": [{"plate": "ABC", "vehicle_class": "car"}]}, "vehicles.0.plate:"),
        ({"vehicles": [{"plate": None, "plate_color": "blue"}]}, "vehicles: plate_color needs a plate"),
        ({"location": {"lat": 40.0, "lon": 117.1, "admin_code": "370102"}}, "location.lat:"),
        ({"location": {"lat": 36.6, "lon": 117.1, "admin_code": "110101"}}, "location.admin_code: must be"),
        ({"occurred_at": "2026-11-28T07:40:00"}, "occurred_at:"),
        ({"occurred_at": "1969-12-31T00:00:00+08:00"}, "occurred_at: before 1970-01-01"),
        ({"occurred_at": datetime.now(UTC) + timedelta(hours=1)}, "occurred_at: more than 5 minutes"),
        ({"occurred_at": "2026-11-28T07:40:00+15:00"}, "occurred_at: the UTC offset"),
        ({"reported_at": "1999-01-01T00:00:00+08:00"}, "reported_at: before occurred_at"),
        ({"weather": "rain"}, "weather: unknown field"),
        ({"description": "x\u0000y"}, "NUL character"),
    ],
)
def test_refusals_name_the_field(over: dict[str, Any], reason: str) -> None:
    assert reason in refusal(**over)


def test_what_is_not_a_report() -> None:
    assert validate(None) == "body: empty message (null value)"
    assert "malformed JSON" in str(validate(b"{not json"))
    assert "body: must be a JSON object" in str(validate(b"[1]"))
    missing = validate(orjson.dumps({"accident_id": "x"}))
    assert isinstance(missing, str) and "occurred_at: required field missing" in missing
