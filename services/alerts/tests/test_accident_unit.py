"""Accident alerts (unit): which accidents respond, their factors, P1, the proposal's identity."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from qzx_alerts.accidents.factors import score_accident
from qzx_alerts.accidents.service import proposal, read_reports
from qzx_alerts.scoring.rules import load_rules
from qzx_common.contracts.accidents import AccidentReport, read_accident
from qzx_common.contracts.alerts import Priority
from qzx_common.kafka.runner import RecordsRejected
from qzx_dev.samples import make_accident

RULES = load_rules()


def accident(**over: Any) -> AccidentReport:
    return read_accident(orjson.dumps(make_accident(**over)))


def test_injury_and_fatal_accidents_are_p1_with_their_factors() -> None:
    injury = score_accident(accident(road_feature="school_zone"), RULES)
    assert injury.priority == Priority.P1
    names = {f["name"]: f for f in injury.factors}
    assert names["road_feature"]["value"] == "school_zone" and "学校路段" in names["road_feature"]["why"]
    assert names["dispatch_needs"]["value"] == "ambulance_liaison,traffic_control"
    assert "major_accident" not in names and names["ebike_involved"]["value"] is True
    fatal = score_accident(accident(severity="fatal", killed=3, injured=0), RULES)
    assert fatal.score > injury.score and "major_accident" in {f["name"] for f in fatal.factors}


def test_property_only_is_not_an_alert_and_the_alert_is_named_after_the_accident() -> None:
    assert proposal(accident(severity="property_only", injured=0), RULES) is None
    report = accident(accident_id="370102-A-1", vehicles=[{"plate": "鲁B22222"}, {"plate": "鲁A11111"}])
    p = proposal(report, RULES)
    assert p is not None
    assert (p.kind, p.dedup_key, p.seed, p.event_ids) == (
        "accident",
        "accident:370102-A-1",
        "370102-A-1",
        ["370102-A-1"],
    )
    assert (p.plate, p.plates, p.first_seen) == ("鲁A11111", ["鲁A11111", "鲁B22222"], report.occurred_at)


def test_a_value_that_is_not_a_report_is_rejected_by_position() -> None:
    good = orjson.dumps(make_accident())
    with pytest.raises(RecordsRejected) as caught:
        read_reports([good, b"{}", None])
    assert set(caught.value.reasons) == {1, 2}
