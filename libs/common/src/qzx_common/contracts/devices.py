"""The province's camera and checkpoint catalogue (reference data, deterministic).

Every service that needs device positions (alerts for travel times, dispatch for intercept points,
the simulator for realistic streams) reads the same table. Devices sit along the main roads
radiating from each city centre, so that "the next checkpoint on the vehicle's heading" exists.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from qzx_common.contracts.geo import CITIES, haversine_km


class Device(NamedTuple):
    device_id: str
    kind: str
    lat: float
    lon: float
    admin_code: str
    road: str
    km: float


# Kind of device at each position along a spoke (checkpoints at both ends so interception works).
_SPOKE_KINDS = (
    "checkpoint",
    "speed_camera",
    "breath_checkpoint",
    "noise_camera",
    "weigh_in_motion",
    "ebike_camera",
    "checkpoint",
)
_KIND_CODE = {
    "checkpoint": "CK",
    "speed_camera": "SC",
    "breath_checkpoint": "BC",
    "noise_camera": "NC",
    "weigh_in_motion": "WM",
    "ebike_camera": "EB",
}
_ROADS = ("G2", "G3", "G15", "G20", "G22", "G25", "G35", "S1")
SPOKES_PER_CITY = 4
SPACING_KM = 4.0


def _build() -> tuple[Device, ...]:
    devices: list[Device] = []
    for ci, city in enumerate(CITIES):
        serial = 0
        for spoke in range(SPOKES_PER_CITY):
            bearing = math.radians(spoke * 90 + ci * 7)
            road = _ROADS[(ci + spoke) % len(_ROADS)]
            district = f"{city.code[:4]}{spoke + 2:02d}"
            for step, kind in enumerate(_SPOKE_KINDS):
                dist = 1.5 + step * SPACING_KM
                lat = city.lat + dist / 111.0 * math.cos(bearing)
                lon = city.lon + dist / (111.0 * math.cos(math.radians(city.lat))) * math.sin(bearing)
                serial += 1
                devices.append(
                    Device(
                        device_id=f"{district}-{_KIND_CODE[kind]}-{serial:04d}",
                        kind=kind,
                        lat=round(lat, 5),
                        lon=round(lon, 5),
                        admin_code=district,
                        road=road,
                        km=round(100 + ci * 50 + dist, 1),
                    )
                )
    return tuple(devices)


DEVICES: tuple[Device, ...] = _build()
DEVICE_BY_ID = {d.device_id: d for d in DEVICES}


def nearest_devices(lat: float, lon: float, *, kind: str | None = None, limit: int = 5) -> list[Device]:
    pool = [d for d in DEVICES if kind is None or d.kind == kind]
    return sorted(pool, key=lambda d: haversine_km(lat, lon, d.lat, d.lon))[:limit]
