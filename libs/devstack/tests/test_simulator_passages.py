"""The checkpoint-passage generator: valid passages on routes between checkpoints, at plausible
speeds, with hotlisted and cloned plates among them, and a daily curve."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

import orjson
import pytest

from qzx_common.contracts.devices import DEVICE_BY_ID
from qzx_common.contracts.geo import haversine_km
from qzx_common.contracts.passage_reader import read_passage
from qzx_dev.simulator import passages
from qzx_dev.simulator.clock import CST, StepClock
from qzx_dev.simulator.passages import DEMO_HOTLISTED, PassageGenerator, daily_factor


def run(seed: int = 7, batches: int = 3000) -> list[dict[str, object]]:
    start = datetime(2026, 12, 1, 7, 0, tzinfo=CST)
    gen = PassageGenerator(
        seed=seed, clock=StepClock(start, timedelta(seconds=1)), hotlisted_share=0.01, clone_share=0.005
    )
    out = []
    for _ in range(batches):
        for m in gen.batch(10):
            assert m.key == read_passage(m.value).device_id.encode()  # valid by the contract
            out.append({**orjson.loads(m.value), "scenario": m.scenario})
    return out


def test_passages_follow_routes_at_plausible_speeds_with_hotlisted_and_cloned_plates() -> None:
    passages = run()
    assert run() == passages  # deterministic for a seed and a step clock
    by_plate: dict[str, list[dict[str, object]]] = defaultdict(list)
    for p in passages:
        by_plate[str(p["plate"])].append(p)
    travelled = 0
    for plate, seen in by_plate.items():
        if any(p["scenario"] == "clone" for p in seen) or plate in DEMO_HOTLISTED:
            continue
        for a, b in itertools.pairwise(seen):
            da, db = DEVICE_BY_ID[str(a["device_id"])], DEVICE_BY_ID[str(b["device_id"])]
            hours = (
                datetime.fromisoformat(str(b["captured_at"])) - datetime.fromisoformat(str(a["captured_at"]))
            ).total_seconds() / 3600
            assert da != db and hours > 0
            assert haversine_km(da.lat, da.lon, db.lat, db.lon) / hours <= 110  # along the road, in time
            travelled += 1
    assert travelled > 100  # trips carry on to the next checkpoint
    assert {p["plate"] for p in passages if p["scenario"] == "hotlisted"} <= set(DEMO_HOTLISTED)
    assert any(p["scenario"] == "hotlisted" for p in passages)
    clones = [seen for seen in by_plate.values() if any(p["scenario"] == "clone" for p in seen)]
    assert clones
    for seen in clones:  # the plate's two vehicles start at once, far apart
        a, b = (DEVICE_BY_ID[str(p["device_id"])] for p in seen[:2])
        assert haversine_km(a.lat, a.lon, b.lat, b.lon) >= 150
    assert all(p["direction"] in ("N", "NE", "E", "SE", "S", "SW", "W", "NW") for p in passages)


def test_the_daily_curve_averages_one_and_peaks_at_the_rush_hours() -> None:
    day = datetime(2026, 12, 1, tzinfo=CST)
    factors = [daily_factor(day + timedelta(minutes=m)) for m in range(0, 24 * 60, 10)]
    assert abs(sum(factors) / len(factors) - 1) < 0.02
    assert daily_factor(day.replace(hour=8)) > 1.5 > 0.2 > daily_factor(day.replace(hour=3))


def test_a_hotlisted_plate_is_on_one_trip_at_a_time() -> None:
    """A wanted car is one car (a plate in two places at once is the clone scenario's): with many
    hotlisted trips asked for, each plate drives again only once its trip has ended."""
    start = datetime(2026, 12, 1, 7, 0, tzinfo=CST)
    plates = ("鲁Z00001", "鲁Z00002")
    gen = PassageGenerator(
        seed=3, clock=StepClock(start, timedelta(seconds=12)), hotlisted=plates, hotlisted_share=0.2
    )
    trips_of: dict[str, int] = defaultdict(int)
    for _ in range(800):
        for m in gen.batch(20):
            if m.scenario == "hotlisted":
                trips_of[orjson.loads(m.value)["plate"]] += 1
        on_trip = [leg.vehicle.plate for leg in gen._legs if leg.scenario == "hotlisted"]
        assert len(on_trip) == len(set(on_trip)), on_trip
    assert set(trips_of) == set(plates)
    assert gen.counts.hotlisted > len(plates)  # trips ended and the plates drove again


def test_past_its_memory_the_generator_forgets_its_oldest_plates_not_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passages, "MAX_ISSUED", 100)
    gen = PassageGenerator(
        seed=5, clock=StepClock(datetime(2026, 12, 1, 7, 0, tzinfo=CST), timedelta(seconds=1))
    )
    gen.batch(300)  # 300 new trips
    assert len(gen._issued) == len(gen._issue_order) == 100
    assert set(gen._issue_order) == gen._issued  # the newest hundred
