"""What an alert needs from a unit, and how fast units and targets move: pure, documented rules."""

from __future__ import annotations

from qzx_common.contracts.alerts import Alert, Priority
from qzx_common.contracts.geo import haversine_km

CAPABILITIES = ("breathalyser", "weighing", "pursuit", "interception", "ebike")
VEHICLES = ("car", "motorcycle", "checkpoint_post")

# The equipment each violation needs on board.
VIOLATION_NEEDS: dict[str, frozenset[str]] = {
    "drunk_driving": frozenset({"breathalyser"}),
    "overload": frozenset({"weighing"}),
    "street_racing": frozenset({"pursuit"}),
    "ebike_red_light": frozenset({"ebike"}),
    "ebike_wrong_way": frozenset({"ebike"}),
    "ebike_overload": frozenset({"ebike"}),
}
KIND_NEEDS: dict[str, frozenset[str]] = {
    "plate_fraud": frozenset({"interception"}),
    "hotlist": frozenset({"interception"}),
    "hotlist_hit": frozenset({"interception"}),
    "racing_group": frozenset({"pursuit"}),
}
# Vehicles on the move: the unit goes to a checkpoint ahead rather than to where it was seen.
MOVING_VIOLATIONS = frozenset({"street_racing"})
MOVING_KINDS = frozenset({"plate_fraud", "racing_group", "hotlist", "hotlist_hit"})
# E-bike riders are persuaded and educated (auxiliaries may do this); everything else is enforcement.
PERSUASION_VIOLATIONS = frozenset({"ebike_red_light", "ebike_wrong_way", "ebike_overload"})

# Defaults when the alert carries no deadlines: (sign-by s, feedback-by s).
DEFAULT_DEADLINES: dict[Priority, tuple[int, int]] = {
    Priority.P1: (60, 30 * 60),
    Priority.P2: (120, 60 * 60),
    Priority.P3: (300, 4 * 3600),
    Priority.P4: (900, 24 * 3600),
}
LOW_PRIORITIES = frozenset({Priority.P3, Priority.P4})

# Travel: great-circle distance times a detour factor, over a speed for the road class.
DETOUR = 1.3
UNIT_SPEED_KMH = {"expressway": 90.0, "provincial": 70.0, "urban": 40.0}
VEHICLE_FACTOR = {"car": 1.0, "motorcycle": 1.1}
TARGET_SPEED_KMH = {"expressway": 100.0, "provincial": 80.0, "urban": 50.0}
# A checkpoint post does not move: it can take a task only where it stands.
POST_REACH_KM = 1.0


def needs(alert: Alert) -> frozenset[str]:
    out: set[str] = set(KIND_NEEDS.get(alert.kind, frozenset()))
    for v in alert.violations:
        out |= VIOLATION_NEEDS.get(v, frozenset())
    return frozenset(out)


def is_moving(alert: Alert) -> bool:
    return alert.kind in MOVING_KINDS or any(v in MOVING_VIOLATIONS for v in alert.violations)


def is_enforcement(alert: Alert) -> bool:
    return alert.kind != "violation" or not set(alert.violations) <= PERSUASION_VIOLATIONS


def deadlines(alert: Alert) -> tuple[int, int]:
    sign, feedback = DEFAULT_DEADLINES[alert.priority]
    return alert.sign_deadline_s or sign, alert.feedback_deadline_s or feedback


def road_class(road: str | None) -> str:
    """G roads are national expressways/highways, S roads provincial ones; anything else is urban."""
    if road and road[:1].upper() == "G":
        return "expressway"
    if road and road[:1].upper() == "S":
        return "provincial"
    return "urban"


def travel_s(
    vehicle: str, lat: float, lon: float, to_lat: float, to_lon: float, road: str | None
) -> float | None:
    """Seconds for a unit to reach a point; None when it cannot (a post away from the point)."""
    km = haversine_km(lat, lon, to_lat, to_lon)
    if vehicle == "checkpoint_post":
        return 0.0 if km <= POST_REACH_KM else None
    speed = UNIT_SPEED_KMH[road_class(road)] * VEHICLE_FACTOR.get(vehicle, 1.0)
    return km * DETOUR / speed * 3600.0


# The factor in which alerts names what a scene needs besides the unit (an accident's ambulance
# liaison and traffic control): the task's summary repeats it for the unit.
DISPATCH_NEEDS_FACTOR = "dispatch_needs"


def scene_needs(alert: Alert) -> list[str]:
    for f in alert.factors:
        if f.name == DISPATCH_NEEDS_FACTOR and isinstance(f.value, str) and f.value:
            return f.value.split(",")
    return []


def summary(alert: Alert) -> str:
    what = ", ".join(alert.violations) or alert.kind
    plate = alert.plate or (", ".join(alert.plates) if alert.plates else "no plate")
    where = alert.location.road or alert.location.admin_code
    km = f" km {alert.location.km:g}" if alert.location.km is not None else ""
    needs = scene_needs(alert)
    return f"{alert.priority.value} {alert.kind}: {what} · {plate} · {where}{km}" + (
        f" · needs {', '.join(needs)}" if needs else ""
    )
