"""Black-spot clustering on a known set of points: what is a black spot, what is not, and which
known hazard a black spot is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qzx_alerts.blackspots.analysis import AccidentPoint, Cell, KnownHazard, Params, cell_of, find, match

DAY = datetime(2024, 3, 1, 8, tzinfo=UTC)


def _at(lat: float, lon: float, day: int, n: int = 0) -> AccidentPoint:
    return AccidentPoint(f"a-{lat}-{lon}-{day}-{n}", lat, lon, DAY + timedelta(days=day), 1, 0, "370202")


def _known_set() -> tuple[list[AccidentPoint], list[Cell]]:
    junction = [_at(36.0600 + 0.0001 * i, 120.3300, day=i) for i in range(4)]  # 4 days within 35 m
    pile_up = [_at(36.0800, 120.3700 + 0.0001 * i, day=0, n=i) for i in range(3)]  # one day
    busy = [_at(36.0650, 120.3900, day=0), _at(36.06505, 120.39005, day=9)]  # two, many violations
    scattered = [_at(36.0 + 0.02 * i, 120.2 + 0.02 * i, day=i) for i in range(6)]  # km apart
    cells = [Cell(*cell_of(36.0650, 120.3900), violations=400), Cell(*cell_of(36.2, 120.5), violations=9999)]
    return junction + pile_up + busy + scattered, cells


def test_dense_places_on_several_days_are_black_spots() -> None:
    accidents, cells = _known_set()
    found = sorted(find(accidents, cells, Params()), key=lambda c: c.lat)
    assert [(round(c.lat, 3), round(c.lon, 3), len(c.accidents)) for c in found] == [
        (36.06, 120.33, 4),
        (36.065, 120.39, 2),  # two accidents weigh as three or more where violations crowd
    ]
    junction, busy = found
    assert junction.violations == 0 and busy.violations == 400
    assert 50 <= junction.radius_m <= 100 and junction.admin_code == "370202"
    assert junction.injured == 4 and junction.killed == 0


def test_without_violations_two_accidents_are_not_enough() -> None:
    accidents, _ = _known_set()
    assert [len(c.accidents) for c in find(accidents, [], Params())] == [4]
    assert find([], [], Params()) == []


def test_the_period_and_the_thresholds_are_parameters() -> None:
    accidents, cells = _known_set()
    # the pile-up counts when one day is enough
    assert len(find(accidents, cells, Params(min_days=1))) == 3
    # a tighter radius splits the junction's chain (10 m steps are within 20 m, 35 m is not)
    assert find(accidents, cells, Params(eps_m=5)) == []


def test_a_black_spot_is_the_known_hazard_it_overlaps() -> None:
    accidents, cells = _known_set()
    junction = next(c for c in find(accidents, cells, Params()) if len(c.accidents) == 4)
    near = KnownHazard("hz-near", 36.0612, 120.3300, radius_m=100)  # ~100 m off, overlapping
    nearer = KnownHazard("hz-nearer", 36.0605, 120.3301, radius_m=30)
    far = KnownHazard("hz-far", 36.07, 120.33, radius_m=200)
    assert match(junction, [near, far, nearer]) == nearer
    assert match(junction, [far]) is None
    assert match(junction, []) is None
