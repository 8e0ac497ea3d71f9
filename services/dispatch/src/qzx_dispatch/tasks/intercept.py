"""Intercept points for moving targets: the next checkpoint(s) on the vehicle's route.

The heading comes from, in order: a ``heading_deg`` factor on the alert (a checkpoint's compass
direction of travel); a ``direction`` factor of inbound/outbound (toward or away from the city
centre); the previous sighting (event ids start with the id of the device that produced them); else
outbound from the city centre (a vehicle that runs usually leaves town along the spoke it was seen on).

The checkpoints ahead are those within a cone of the heading; the ones on the road the vehicle was
seen on come first, ordered by road kilometre (it passes them unless it turns off), then the others
by distance. The vehicle's time to each is its road distance at the road's target speed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.devices import DEVICE_BY_ID, DEVICES, Device
from qzx_common.contracts.geo import CITY_BY_CODE, city_code, haversine_km
from qzx_dispatch.tasks.rules import DETOUR, TARGET_SPEED_KMH, road_class

INTERCEPT_KINDS = frozenset({"checkpoint"})
MAX_AHEAD_KM = 40.0
CONE_DEG = 50.0
MIN_AHEAD_KM = 0.3


@dataclass(frozen=True, slots=True)
class Point:
    device_id: str | None
    lat: float
    lon: float
    road: str | None
    target_eta_s: float  # when the target vehicle is expected there


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def angle_between(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def device_of_event(event_id: str) -> str | None:
    parts = event_id.split("-")
    for k in range(len(parts) - 1, 0, -1):
        candidate = "-".join(parts[:k])
        if candidate in DEVICE_BY_ID:
            return candidate
    return None


def heading(alert: Alert) -> float | None:
    for f in alert.factors:
        if f.name == "heading_deg" and isinstance(f.value, int | float) and not isinstance(f.value, bool):
            return float(f.value) % 360.0
    loc = alert.location
    city = CITY_BY_CODE.get(city_code(loc.admin_code))
    away = None
    if city is not None and haversine_km(city.lat, city.lon, loc.lat, loc.lon) > MIN_AHEAD_KM:
        away = bearing_deg(city.lat, city.lon, loc.lat, loc.lon)
    direction = next((f.value for f in alert.factors if f.name == "direction"), None)
    if away is not None and direction in ("inbound", "outbound"):
        return away if direction == "outbound" else (away + 180.0) % 360.0
    sightings = [d for d in (device_of_event(e) for e in alert.event_ids) if d]
    current = loc.device_id or (sightings[-1] if sightings else None)
    previous = next((d for d in reversed(sightings) if d != current), None)
    if previous is not None:
        p = DEVICE_BY_ID[previous]
        if haversine_km(p.lat, p.lon, loc.lat, loc.lon) > MIN_AHEAD_KM:
            return bearing_deg(p.lat, p.lon, loc.lat, loc.lon)
    return away


def points_ahead(alert: Alert, *, limit: int = 2, devices: Sequence[Device] = DEVICES) -> list[Point]:
    """Up to ``limit`` checkpoints ahead of the vehicle, those on its road first (nearest by road
    kilometre), then the nearest others, with its ETA at each."""
    h = heading(alert)
    if h is None:
        return []
    loc = alert.location
    on_road: list[tuple[float, Device]] = []
    off_road: list[tuple[float, Device]] = []
    for d in devices:
        if d.kind not in INTERCEPT_KINDS or d.device_id == loc.device_id:
            continue
        km = haversine_km(loc.lat, loc.lon, d.lat, d.lon)
        if not (
            MIN_AHEAD_KM < km <= MAX_AHEAD_KM
            and angle_between(bearing_deg(loc.lat, loc.lon, d.lat, d.lon), h) <= CONE_DEG
        ):
            continue
        if loc.road is not None and d.road == loc.road:
            on_road.append((abs(d.km - loc.km) if loc.km is not None else km, d))
        else:
            off_road.append((km * DETOUR, d))  # straight line × the usual detour
    chosen = sorted(on_road, key=lambda x: x[0]) + sorted(off_road, key=lambda x: x[0])
    return [
        Point(d.device_id, d.lat, d.lon, d.road, road_km / TARGET_SPEED_KMH[road_class(d.road)] * 3600.0)
        for road_km, d in chosen[:limit]
    ]
