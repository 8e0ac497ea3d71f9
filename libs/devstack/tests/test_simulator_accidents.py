"""The accident generator: valid AccidentReports, deterministic for a seed, with the hourly, weekly
and rural patterns and a quarter at the demo world's hazard points."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import orjson

from qzx_common.contracts.accidents import read_accident
from qzx_common.contracts.devices import DEVICES
from qzx_common.contracts.geo import haversine_km
from qzx_dev.demo.world import HAZARDS
from qzx_dev.simulator.accidents import AccidentGenerator, weekly_factor
from qzx_dev.simulator.clock import CST, StepClock

START = datetime(2025, 3, 3, tzinfo=CST)  # a Monday, long past (the clock never passes real time)


def run(seed: int = 3, hours: int = 4 * 7 * 24, per_hour: int = 12) -> list[dict[str, object]]:
    """Four weeks, a fixed number an hour (the stream's rate shape is tested separately)."""
    gen = AccidentGenerator(seed=seed, clock=StepClock(START, timedelta(hours=1)))
    out = []
    for _ in range(hours):
        for m in gen.batch(per_hour):
            report = read_accident(m.value)  # valid by the contract
            assert m.key == report.accident_id.encode()
            out.append(orjson.loads(m.value))
    return out


def local(a: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(a["occurred_at"])).astimezone(CST)


def test_accidents_are_valid_deterministic_and_unique() -> None:
    accidents = run(hours=48)
    assert run(hours=48) == accidents
    assert len({a["accident_id"] for a in accidents}) == len(accidents)
    assert AccidentGenerator(seed=4).batch(1)[0].key != AccidentGenerator(seed=3).batch(1)[0].key


def test_rural_share_follows_the_commute_peaks_and_market_mornings() -> None:
    accidents = run()
    by_hour: Counter[tuple[int, bool]] = Counter((local(a).hour, bool(a["rural"])) for a in accidents)

    def rural_share(hours: range) -> float:
        rural = sum(by_hour[(h, True)] for h in hours)
        return rural / (rural + sum(by_hour[(h, False)] for h in hours))

    assert rural_share(range(5, 8)) > rural_share(range(9, 11)) + 0.1  # the early commute
    markets = [a for a in accidents if a["road_feature"] == "road_market" and not _at_hazard(a)]
    on_market_days = sum(local(a).day in (1, 6, 11, 16, 21, 26) for a in markets)
    # road-market accidents a day: on the 5 market days of the 28, against the other 23
    assert on_market_days / 5 > 3 * (len(markets) - on_market_days) / 23
    fatal = [a for a in accidents if a["severity"] == "fatal"]
    assert sum(bool(a["rural"]) for a in fatal) / len(fatal) > 0.5  # deaths weigh on rural roads
    assert all(int(a["killed"]) >= 1 for a in fatal)


def _at_hazard(a: dict[str, object]) -> bool:
    where = a["location"]
    assert isinstance(where, dict)
    return any(
        haversine_km(where["lat"], where["lon"], DEVICES[i].lat, DEVICES[i].lon) * 1000 <= radius
        for i, _, radius, *_ in HAZARDS
    )


def test_a_quarter_happen_at_the_hazard_points() -> None:
    accidents = run(hours=7 * 24)
    share = sum(_at_hazard(a) for a in accidents) / len(accidents)
    assert 0.2 < share < 0.32


def test_the_weekly_rate_shape() -> None:
    monday = datetime(2026, 11, 2, tzinfo=CST)
    week = [weekly_factor(monday + timedelta(hours=h)) for h in range(7 * 24)]
    assert abs(sum(week) / len(week) - 1) < 1e-9  # relative to the mean of a week without market days
    assert week[7] > 1.5 * week[3] and week[24 * 4 + 18] > week[18]  # rush hour; a Friday evening
    market_morning = weekly_factor(datetime(2026, 11, 6, 9, tzinfo=CST))
    assert market_morning > weekly_factor(datetime(2026, 11, 5, 9, tzinfo=CST))
