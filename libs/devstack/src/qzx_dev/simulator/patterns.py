"""When each violation happens: a base share of the stream, shaped by the hour of day (local time)
and the day of the week. The figures are illustrative, chosen to match what the force reports:
drink driving after dinner and into the night, overloaded trucks at night when weigh stations
are unmanned, racing late on Friday and Saturday nights, e-bikes at school commute times,
speeding in daytime traffic, red lights at the rush hours."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

BASE_SHARE: dict[str, float] = {
    "speeding": 0.26,
    "red_light": 0.14,
    "wrong_way": 0.05,
    "drunk_driving": 0.07,
    "overload": 0.08,
    "street_racing": 0.012,
    "noise_modified": 0.05,
    "fake_plate": 0.03,
    "no_plate": 0.03,
    "ebike_red_light": 0.12,
    "ebike_wrong_way": 0.07,
    "ebike_overload": 0.07,
}


def _hours(spec: dict[tuple[int, int], float], default: float) -> tuple[float, ...]:
    """24 weights from ``{(first_hour, last_hour_inclusive): weight}``; ranges may wrap midnight."""
    weights = [default] * 24
    for (first, last), w in spec.items():
        h = first
        while True:
            weights[h] = w
            if h == last:
                break
            h = (h + 1) % 24
    return tuple(weights)


HOURLY: dict[str, tuple[float, ...]] = {
    "drunk_driving": _hours({(19, 20): 2.5, (21, 23): 4.0, (0, 2): 3.0, (3, 4): 1.0, (11, 13): 0.8}, 0.15),
    "overload": _hours({(22, 23): 3.0, (0, 4): 3.5, (5, 5): 2.0, (21, 21): 1.5}, 0.3),
    "street_racing": _hours({(22, 22): 1.0, (23, 23): 2.0, (0, 3): 3.0, (4, 4): 0.8}, 0.05),
    "noise_modified": _hours({(19, 21): 1.5, (22, 23): 2.5, (0, 2): 2.0}, 0.3),
    "speeding": _hours({(8, 17): 1.8, (6, 7): 1.0, (18, 21): 1.0}, 0.45),
    "red_light": _hours({(7, 9): 2.2, (17, 19): 2.2, (10, 16): 1.2}, 0.35),
    "wrong_way": _hours({(7, 19): 1.4}, 0.4),
    "fake_plate": _hours({(22, 23): 1.3, (0, 5): 1.5}, 0.9),
    "no_plate": _hours({(20, 23): 1.3, (0, 4): 1.3}, 0.9),
    "ebike_red_light": _hours({(6, 8): 3.0, (11, 12): 2.0, (16, 18): 3.0, (9, 10): 1.0, (13, 15): 1.0}, 0.15),
    "ebike_wrong_way": _hours({(6, 8): 2.5, (11, 12): 1.8, (16, 18): 2.5, (9, 10): 1.0, (13, 15): 1.0}, 0.2),
    # Elderly riders carrying several pupils: the school run (7-8, 11:30-12:30, 16:30-17:30).
    "ebike_overload": _hours({(7, 7): 5.0, (6, 6): 1.5, (11, 12): 2.5, (16, 17): 5.0}, 0.05),
}


def weekday_factor(violation: str, weekday: int, hour: int) -> float:
    """Weekend nights (Friday and Saturday evenings, and the small hours after) bring out racing and
    loud modified cars; no school runs at weekends."""
    weekend_night = (weekday in (4, 5) and hour >= 18) or (weekday in (5, 6) and hour < 6)
    if violation == "street_racing":
        return 4.0 if weekend_night else 0.6
    if violation == "noise_modified":
        return 2.0 if weekend_night else 1.0
    if violation == "drunk_driving":
        return 1.4 if weekend_night else 1.0
    if violation == "ebike_overload":
        return 0.2 if weekday >= 5 else 1.0
    if violation == "overload":
        return 0.8 if weekday == 6 else 1.0
    return 1.0


@lru_cache(maxsize=24 * 7)
def mix(weekday: int, hour: int) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Violations and their cumulative weights for one (weekday, hour) slot."""
    names = tuple(BASE_SHARE)
    total = 0.0
    cumulative = []
    for v in names:
        total += BASE_SHARE[v] * HOURLY[v][hour] * weekday_factor(v, weekday, hour)
        cumulative.append(total)
    return names, tuple(cumulative)


def mix_at(dt: datetime) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The mix at a local (+08:00) time."""
    return mix(dt.weekday(), dt.hour)
