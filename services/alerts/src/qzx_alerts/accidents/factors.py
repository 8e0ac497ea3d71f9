"""Why an accident is an alert: each factor names one fact of the report, its points and a why in
Chinese, then English. An injury or fatal accident is always P1 (a floor, named as a factor)."""

from __future__ import annotations

from qzx_alerts.scoring.domain import Factor, Scored, factor
from qzx_alerts.scoring.factors import finish
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.accidents import AccidentReport, RoadFeature, Severity
from qzx_common.contracts.alerts import Priority

KIND = "accident"
# What the scene needs besides the unit (the value of the ``dispatch_needs`` factor, which dispatch
# puts on the task): liaison with the 120 ambulance service, and traffic control around the scene.
AMBULANCE_LIAISON = "ambulance_liaison"
TRAFFIC_CONTROL = "traffic_control"
DISPATCH_NEEDS_FACTOR = "dispatch_needs"

SEVERITY_POINTS = {Severity.injury: 50.0, Severity.fatal: 70.0}
POINTS_PER_CASUALTY = 2.0
CASUALTY_POINTS_MAX = 20.0
MAJOR_POINTS = 20.0
FEATURE_POINTS = 5.0  # a place where the next accident is likelier (and the scene harder to hold)
RISKY_FEATURES = frozenset(
    {RoadFeature.level_crossing, RoadFeature.road_market, RoadFeature.school_zone, RoadFeature.curve}
)
_FEATURE_ZH = {
    RoadFeature.level_crossing: "铁路道口",
    RoadFeature.road_market: "占道集市",
    RoadFeature.school_zone: "学校路段",
    RoadFeature.curve: "弯道",
}
_SEVERITY_ZH = {Severity.injury: "伤人事故", Severity.fatal: "死亡事故"}


def responds(report: AccidentReport) -> bool:
    """Injury and fatal accidents become P1 alerts; property-only ones do not."""
    return report.severity in SEVERITY_POINTS


def dispatch_needs(report: AccidentReport) -> list[str]:
    return [AMBULANCE_LIAISON, TRAFFIC_CONTROL]


def accident_factors(report: AccidentReport) -> list[Factor]:
    r = report
    casualties = r.injured + r.killed
    factors = [
        factor(
            "accident_severity",
            r.severity.value,
            SEVERITY_POINTS[r.severity],
            f"{_SEVERITY_ZH[r.severity]}：死亡 {r.killed} 人，受伤 {r.injured} 人 / "
            f"{r.severity.value} accident: {r.killed} killed, {r.injured} injured",
        ),
        factor(
            "casualties",
            casualties,
            min(CASUALTY_POINTS_MAX, POINTS_PER_CASUALTY * casualties),
            f"伤亡 {casualties} 人 / {casualties} casualties",
        ),
    ]
    if r.major:
        factors.append(
            factor(
                "major_accident",
                r.killed,
                MAJOR_POINTS,
                f"较大事故（死亡 ≥ 3 人）/ major accident (≥ 3 deaths): {r.killed}",
            )
        )
    if r.road_feature in RISKY_FEATURES:
        factors.append(
            factor(
                "road_feature",
                r.road_feature.value,
                FEATURE_POINTS,
                f"事故发生在{_FEATURE_ZH[r.road_feature]} / at a {r.road_feature.value.replace('_', ' ')}",
            )
        )
    if r.ebike_involved:
        factors.append(factor("ebike_involved", True, 0, "涉及电动自行车 / an e-bike is involved"))
    if r.rural:
        factors.append(factor("rural", True, 0, "农村道路 / on a rural road"))
    needs = dispatch_needs(r)
    factors.append(
        factor(
            DISPATCH_NEEDS_FACTOR,
            ",".join(needs),
            0,
            "需联系 120 急救并实施交通管制 / ambulance liaison and traffic control at the scene",
        )
    )
    return factors


def score_accident(report: AccidentReport, rules: Rules) -> Scored:
    return finish(accident_factors(report), Priority.P1, rules)
