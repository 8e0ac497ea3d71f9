"""Explainable scoring: each factor is a small function returning its points and a one-line why
(and, for zero-tolerance findings, a priority floor). The score is their sum, clamped to 0-100."""

from __future__ import annotations

from datetime import datetime

from qzx_alerts.scoring.domain import (
    Context,
    EventFindings,
    Factor,
    Finding,
    HazardPoint,
    HotlistHit,
    Scored,
    Sighting,
    factor,
)
from qzx_alerts.scoring.rules import Rules, highest
from qzx_common.contracts.alerts import COVERT, Priority
from qzx_common.contracts.events import EBIKE_VIOLATIONS

_EBIKE = frozenset(v.value for v in EBIKE_VIOLATIONS)


def own_findings(s: Sighting, rules: Rules) -> EventFindings:
    """The findings that depend on the event alone, computed once per sighting (the consumer's
    prepare step computes them before the batch's database lookups)."""
    if s.own is None:
        local = s.captured_at.astimezone(rules.tz)
        s.own = EventFindings(
            severity=severity(s, rules),
            night=night(local, rules),
            vehicle_class=vehicle_class(s, rules),
            school_commute=school_commute(s, local, rules),
            low_confidence=low_confidence(s, rules),
        )
    return s.own


def score_event(s: Sighting, ctx: Context, rules: Rules) -> Scored:
    own = own_findings(s, rules)
    findings = [
        own.severity,
        repeat_offender(ctx.prior_violations, rules),
        hotlist(ctx.hotlist, rules),
        own.night,
        hazard(ctx.hazards, rules),
        own.vehicle_class,
        own.school_commute,
        own.low_confidence,
    ]
    factors = [f for f, _ in findings if f is not None]
    floors = [p for _, p in findings if p is not None]
    return finish(factors, highest(*floors) if floors else None, rules)


def finish(factors: list[Factor], floor: Priority | None, rules: Rules) -> Scored:
    """Sum, clamp, and raise the priority to the floor (naming the floor as a factor)."""
    score = max(0.0, min(100.0, sum(f["contribution"] for f in factors)))
    by_score = rules.priority_for(score)
    priority = highest(by_score, floor)
    if priority != by_score:
        factors = [
            *factors,
            factor(
                "priority_floor", priority.value, 0, f"zero-tolerance floor raises {by_score} to {priority}"
            ),
        ]
    return Scored(round(score, 1), priority, factors)


def grade(grades: list[tuple[float, float]], value: float) -> float:
    points = grades[0][1]
    for start, p in grades:
        if value >= start:
            points = p
    return points


def severity(s: Sighting, rules: Rules) -> Finding:
    sev = rules.severity
    base = sev.base.get(s.violation, 10.0)
    floor = sev.floors.get(s.violation)
    v = s.violation
    if v == "drunk_driving" and (bac := s.m("bac_mg_100ml")) is not None:
        b = sev.bac
        if bac >= b.drunk_min:
            why = f"drunk driving: BAC {bac:g} mg/100mL ≥ {b.drunk_min:g}"
            return factor("severity", bac, b.drunk_points, why), highest(floor, b.drunk_floor)
        if bac >= b.drink_min:
            why = f"drink driving: BAC {bac:g} mg/100mL in {b.drink_min:g}–{b.drunk_min:g}"
            return factor("severity", bac, b.drink_points, why), highest(floor, b.drink_floor)
        return factor(
            "severity", bac, base, f"breath test BAC {bac:g} mg/100mL below drink-driving level"
        ), floor
    if v == "speeding" and (speed := s.m("speed_kmh")) and (limit := s.m("speed_limit_kmh")):
        pct = (speed - limit) / limit * 100
        sp = sev.speeding
        points = grade(sp.grades, pct)
        if pct >= sp.floor_from_percent:
            floor = highest(floor, sp.floor)
        why = f"speeding {speed:g} km/h in a {limit:g} zone: {pct:.0f}% over"
        return factor("severity", round(pct, 1), points, why), floor
    if v == "overload" and (gross := s.m("gross_weight_kg")):
        ov = sev.overload
        limit = s.m("weight_limit_kg")
        if gross >= ov.hundred_ton_kg:
            why = f"hundred-ton king: gross {gross / 1000:g} t ≥ {ov.hundred_ton_kg / 1000:g} t"
            return factor("severity", gross, ov.hundred_ton_points, why), highest(floor, ov.hundred_ton_floor)
        if limit:
            pct = (gross - limit) / limit * 100
            kind = "serious overload" if pct > ov.grades[-1][0] else "overload"
            why = f"{kind}: {gross / 1000:g} t on a {limit / 1000:g} t limit ({pct:.0f}% over)"
            return factor("severity", round(pct, 1), grade(ov.grades, pct), why), floor
    if v == "noise_modified" and (db := s.m("noise_db")) is not None:
        return factor("severity", db, grade(sev.noise.grades, db), f"modified exhaust: {db:g} dB"), floor
    if v in _EBIKE and (riders := s.m("riders")) and riders > 1:
        er = sev.ebike_riders
        extra = min(er.max_points, (riders - 1) * er.points_per_extra_rider)
        why = f"{v.replace('_', ' ')} with {riders:g} riders on one e-bike"
        return factor("severity", riders, base + extra, why), floor
    return factor("severity", v, base, f"{v.replace('_', ' ')}"), floor


def repeat_offender(prior: int, rules: Rules) -> Finding:
    if prior <= 0:
        return None, None
    r = rules.repeat_offender
    points = min(r.max_points, prior * r.points_per_prior)
    why = f"{prior} earlier violation{'s' if prior > 1 else ''} of this plate in {r.window_days} days"
    return factor("repeat_offender", prior, points, why), None


def hotlist(hits: list[HotlistHit], rules: Rules) -> Finding:
    if not hits:
        return None, None
    top = min(hits, key=lambda h: h.priority)
    if top.covert:
        why = f"on a covert hotlist (floor {top.priority.value}); details for commanders only"
        value: str = COVERT
    else:
        why = f"on the {top.source} hotlist: {top.reason} (floor {top.priority.value})"
        value = top.id
    return factor("hotlist", value, rules.hotlist.points, why), top.priority


def is_night(local: datetime, rules: Rules) -> bool:
    n = rules.night
    h = local.hour
    return (
        (n.start_hour <= h or h < n.end_hour) if n.start_hour > n.end_hour else n.start_hour <= h < n.end_hour
    )


def night(local: datetime, rules: Rules) -> Finding:
    if not is_night(local, rules):
        return None, None
    hh_mm = f"{local.hour:02d}:{local.minute:02d}"
    why = f"at night ({hh_mm} local; {rules.night.start_hour:02d}:00–{rules.night.end_hour:02d}:00)"
    return factor("night", hh_mm, rules.night.points, why), None


def hazard(near: list[tuple[HazardPoint, float]], rules: Rules) -> Finding:
    if not near:
        return None, None
    hz = rules.hazard

    def points(p: HazardPoint) -> float:
        return hz.points.get(p.risk_level, 0.0) + (hz.new_bonus if p.status == "new" else 0.0)

    point, dist = max(near, key=lambda pd: points(pd[0]))
    why = f"{dist:.0f} m from {point.risk_level}-risk {point.status} hazard point {point.name}"
    return factor("hazard", point.id, points(point), why), None


def vehicle_class(s: Sighting, rules: Rules) -> Finding:
    vc = rules.vehicle_class
    if s.vehicle_class == "hazmat":
        return factor("vehicle_class", "hazmat", vc.hazmat, "hazardous-goods vehicle"), None
    if s.vehicle_class == "bus":
        return factor("vehicle_class", "bus", vc.bus, "passenger bus"), None
    if s.vehicle_class == "truck":
        gross, axles = s.m("gross_weight_kg"), s.m("axles")
        if (gross is not None and gross >= vc.heavy_truck_min_kg) or (axles is not None and axles >= 4):
            return factor("vehicle_class", "heavy_truck", vc.heavy_truck, "heavy truck"), None
    return None, None


def school_commute(s: Sighting, local: datetime, rules: Rules) -> Finding:
    sc = rules.school_commute
    riders = s.m("riders")
    if s.vehicle_class != "ebike" and s.violation not in _EBIKE:
        return None, None
    if riders is None or riders < sc.min_riders or (sc.weekdays_only and local.weekday() >= 5):
        return None, None
    t = local.time()
    if not any(start <= t < end for start, end in sc.windows):
        return None, None
    why = f"e-bike with {riders:g} riders at school commute time ({local:%H:%M}): likely carrying pupils"
    return factor("school_commute", riders, sc.points, why), None


def low_confidence(s: Sighting, rules: Rules) -> Finding:
    c = rules.confidence
    if s.confidence is None or s.confidence >= c.below:
        return None, None
    return factor(
        "low_confidence", s.confidence, c.points, f"camera confidence {s.confidence:.2f} < {c.below}"
    ), None
