"""Black spots (事故多发点段): DBSCAN over the period's accidents with the haversine metric
(scikit-learn), weighted by the violations counted where each happened, then kept where the
accidents span several days (one pile-up reported as three accidents is not a black spot).

Pure computation on plain points: the service loads them and stores what this finds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
CELL_DEGREES = 0.001  # violation counts are kept per cell of 0.001° (≈ 111 m × 90 m here)
MIN_RADIUS_M = 50.0
MAX_RADIUS_M = 1000.0


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    return round(lat / CELL_DEGREES), round(lon / CELL_DEGREES)


@dataclass(frozen=True)
class Params:
    eps_m: float = 150.0
    min_accidents: int = 3
    min_days: int = 2
    # Violations in an accident's cell that weigh as one more accident there (the weight is capped
    # at 2: a place full of violations needs fewer accidents, never none).
    violations_per_accident: float = 200.0


@dataclass(frozen=True)
class AccidentPoint:
    accident_id: str
    lat: float
    lon: float
    occurred_at: datetime
    injured: int
    killed: int
    admin_code: str


@dataclass(frozen=True)
class Cell:
    lat_q: int
    lon_q: int
    violations: int


@dataclass
class Cluster:
    lat: float
    lon: float
    radius_m: float
    accidents: list[AccidentPoint]
    violations: int = 0
    admin_code: str = field(default="")

    @property
    def injured(self) -> int:
        return sum(a.injured for a in self.accidents)

    @property
    def killed(self) -> int:
        return sum(a.killed for a in self.accidents)


def _radians(lat_lon: Sequence[tuple[float, float]]) -> np.ndarray:
    return np.radians(np.asarray(lat_lon, dtype=float).reshape(-1, 2))


def _distance_m(lat: float, lon: float, points: np.ndarray) -> np.ndarray:
    """Great-circle metres from (lat, lon) to ``points`` (radians, lat/lon rows)."""
    la, lo = np.radians(lat), np.radians(lon)
    dlat, dlon = points[:, 0] - la, points[:, 1] - lo
    h = np.sin(dlat / 2) ** 2 + np.cos(la) * np.cos(points[:, 0]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def find(accidents: Sequence[AccidentPoint], cells: Sequence[Cell], params: Params) -> list[Cluster]:
    """The black spots among ``accidents``, each with the violations counted within its radius."""
    if len(accidents) == 0:
        return []
    # Imported here, not at module level: scikit-learn (with the SciPy it pulls in) costs seconds
    # of CPU, and every alerts process that restarts would pay them before it is ready.
    from sklearn.cluster import DBSCAN

    by_cell = {(c.lat_q, c.lon_q): c.violations for c in cells}
    weights = np.array(
        [
            1.0 + min(1.0, by_cell.get(cell_of(a.lat, a.lon), 0) / params.violations_per_accident)
            for a in accidents
        ]
    )
    points = _radians([(a.lat, a.lon) for a in accidents])
    labels = DBSCAN(
        eps=params.eps_m / EARTH_RADIUS_M,
        min_samples=params.min_accidents,
        metric="haversine",
        algorithm="ball_tree",
    ).fit_predict(points, sample_weight=weights)
    clusters = []
    for label in sorted(set(labels.tolist()) - {-1}):
        members = np.flatnonzero(labels == label)
        found = [accidents[int(i)] for i in members]
        if len({a.occurred_at.date() for a in found}) < params.min_days:
            continue
        lat = float(np.mean([a.lat for a in found]))
        lon = float(np.mean([a.lon for a in found]))
        spread = float(_distance_m(lat, lon, points[members]).max())
        radius = min(MAX_RADIUS_M, max(MIN_RADIUS_M, spread + params.eps_m / 5))
        admin_code = Counter(a.admin_code for a in found).most_common(1)[0][0]
        clusters.append(Cluster(lat=lat, lon=lon, radius_m=radius, accidents=found, admin_code=admin_code))
    _count_violations(clusters, cells)
    return clusters


def _count_violations(clusters: list[Cluster], cells: Sequence[Cell]) -> None:
    if not clusters or not cells:
        return
    from sklearn.neighbors import BallTree  # lazily, as in find

    centres = _radians([(c.lat_q * CELL_DEGREES, c.lon_q * CELL_DEGREES) for c in cells])
    counts = np.array([c.violations for c in cells])
    tree = BallTree(centres, metric="haversine")
    where = _radians([(c.lat, c.lon) for c in clusters])
    radii = np.array([c.radius_m / EARTH_RADIUS_M for c in clusters])
    for cluster, inside in zip(clusters, tree.query_radius(where, r=radii), strict=True):
        cluster.violations = int(counts[inside].sum())


@dataclass(frozen=True)
class KnownHazard:
    id: str
    lat: float
    lon: float
    radius_m: float


def match(cluster: Cluster, hazards: Sequence[KnownHazard]) -> KnownHazard | None:
    """The known hazard this black spot is (存量): the nearest whose circle overlaps it."""
    if not hazards:
        return None
    points = _radians([(h.lat, h.lon) for h in hazards])
    distances = _distance_m(cluster.lat, cluster.lon, points)
    reach = np.array([h.radius_m for h in hazards]) + cluster.radius_m
    overlapping = np.flatnonzero(distances <= reach)
    if overlapping.size == 0:
        return None
    return hazards[int(overlapping[np.argmin(distances[overlapping])])]
