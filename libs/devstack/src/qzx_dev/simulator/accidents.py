"""The pure accident generator: no I/O, deterministic for a seed and a ``StepClock``.

``AccidentGenerator(seed=1).batch(n)`` returns ``n`` AccidentReports (key = accident id) for
accidents.reported.v1. The patterns are illustrative, shaped like what the force reports: in town
the two rush hours; on rural roads the early and evening commute of workers and farmers, market
mornings on market days (road markets, 占道集市) and unlit evenings; more deaths at night and on
rural roads; e-bikes in a third of rural accidents. A share of accidents happens at the demo
world's hazard points (within their radius, with the hazard's road feature), so that the black
spots, the reports and the shift planner have something to find. ``weekly_factor`` is the shape
of the week's accident rate, which the stream applies to its mean rate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from qzx_common.contracts.devices import DEVICES, Device
from qzx_common.contracts.geo import CITY_BY_CODE, haversine_km
from qzx_dev.demo.world import HAZARD_FEATURES, HAZARDS
from qzx_dev.simulator.clock import Clock, SimClock
from qzx_dev.simulator.generator import SimMessage
from qzx_dev.simulator.patterns import _hours
from qzx_dev.simulator.plates import make_vehicle

# Accidents by local hour, relative, in town and on rural roads.
URBAN_HOURLY = _hours({(7, 9): 2.0, (17, 19): 2.2, (10, 16): 1.2, (20, 22): 0.9, (23, 4): 0.35}, 0.7)
RURAL_HOURLY = _hours({(5, 7): 2.6, (17, 19): 2.6, (11, 12): 1.3, (20, 22): 1.3, (23, 3): 0.3}, 0.7)
RURAL_SHARE = 0.45  # of accidents over a week
MARKET_DAYS = frozenset({1, 6, 11, 16, 21, 26})  # the dispatch default (逢一逢六, Gregorian)
MARKET_HOURS = range(7, 13)
MARKET_FACTOR = 1.6  # rural accidents on a market morning
HAZARD_SHARE = 0.25  # of accidents at one of the demo world's hazard points
RURAL_KM = 10.0  # a device farther than this from its city's centre is on a rural road
SOURCES = ("call_centre", "patrol", "camera")
FEATURES = ("junction", "straight", "curve", "other", "school_zone", "level_crossing", "road_market")
URBAN_FEATURES = (40, 35, 8, 10, 6, 1, 0)
RURAL_FEATURES = (25, 35, 15, 10, 3, 4, 1)  # road markets: a stall or two on other days
_RISK_WEIGHT = {"high": 3, "medium": 2, "low": 1}


def weekday_factor(weekday: int) -> float:
    """Friday and Saturday evenings out, Sunday trips home."""
    return {4: 1.2, 5: 1.2, 6: 1.1}.get(weekday, 1.0)


def _rate(local: datetime) -> tuple[float, float]:
    """(urban, rural) relative rates at ``local`` (+08:00)."""
    rural = RURAL_SHARE * RURAL_HOURLY[local.hour]
    if local.day in MARKET_DAYS and local.hour in MARKET_HOURS:
        rural *= MARKET_FACTOR
    urban = (1 - RURAL_SHARE) * URBAN_HOURLY[local.hour]
    w = weekday_factor(local.weekday())
    return urban * w, rural * w


_MEAN = sum(sum(_rate(datetime(2026, 11, 2 + d, h))) for d in range(7) for h in range(24)) / (
    7 * 24
)  # a week without market days: the mean the shape is relative to


def weekly_factor(local: datetime) -> float:
    """The accident rate at ``local`` as a multiple of the week's mean."""
    return sum(_rate(local)) / _MEAN


def is_rural(device: Device) -> bool:
    city = CITY_BY_CODE[device.admin_code[:4] + "00"]
    return haversine_km(city.lat, city.lon, device.lat, device.lon) > RURAL_KM


@dataclass
class AccidentCounts:
    valid: int = 0
    rural: int = 0
    at_hazards: int = 0
    fatal: int = 0
    major: int = 0
    ebike: int = 0
    hotlisted: int = 0  # the progress line's fields (none here)
    clones: int = 0
    racing_groups: int = 0


class AccidentGenerator:
    def __init__(self, *, seed: int | None = None, clock: Clock | None = None) -> None:
        self.rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.counts = AccidentCounts()
        self.last_clock: datetime | None = None
        self._run = f"{self.rng.getrandbits(24):06x}"  # a restarted simulator never reuses an id
        self._seq = 0
        self._rural = [d for d in DEVICES if is_rural(d)]
        self._urban = [d for d in DEVICES if not is_rural(d)]
        self._hazards = [
            (DEVICES[i % len(DEVICES)], name, radius, risk) for i, name, radius, risk, _ in HAZARDS
        ]

    def batch(self, n: int) -> list[SimMessage]:
        now = self.last_clock = self.clock.now()
        return [self._accident(now) for _ in range(n)]

    def _place(self, local: datetime) -> tuple[Device, float, float, str, bool]:
        """Where: a hazard point (within its radius) or a device's road, rural by the hour's mix."""
        if self.rng.random() < HAZARD_SHARE:
            weights = [_RISK_WEIGHT[risk] for *_, risk in self._hazards]
            device, name, radius, _ = self.rng.choices(self._hazards, weights=weights)[0]
            self.counts.at_hazards += 1
            lat, lon = self._jitter(device, radius * 0.6)
            return device, lat, lon, HAZARD_FEATURES[name], is_rural(device)
        urban, rural_rate = _rate(local)
        rural = self.rng.random() < rural_rate / (urban + rural_rate)
        device = self.rng.choice(self._rural if rural else self._urban)
        weights = list(RURAL_FEATURES if rural else URBAN_FEATURES)
        if rural and local.day in MARKET_DAYS and local.hour in MARKET_HOURS:
            weights[FEATURES.index("road_market")] = 25  # the market fills the road
        feature = self.rng.choices(FEATURES, weights=weights)[0]
        lat, lon = self._jitter(device, 1500)
        return device, lat, lon, feature, rural

    def _jitter(self, device: Device, metres: float) -> tuple[float, float]:
        dy, dx = (self.rng.uniform(-metres, metres) / 111_000 for _ in range(2))
        return round(device.lat + dy, 5), round(device.lon + dx / 0.8, 5)

    def _severity(self, local: datetime, rural: bool) -> tuple[str, int, int]:
        night = local.hour >= 22 or local.hour < 5
        fatal_share = (0.08 if rural else 0.03) * (2.0 if night else 1.0)
        r = self.rng.random()
        if r < fatal_share:
            killed = self.rng.choices((1, 2, 3, 4), weights=(85, 12, 2, 1))[0]
            return "fatal", self.rng.choice((0, 0, 1, 2)), killed
        if r < fatal_share + 0.3:
            return "injury", self.rng.choices((1, 2, 3), weights=(70, 22, 8))[0], 0
        return "property_only", 0, 0

    def _vehicles(self, city: str, *, ebike: bool) -> list[dict[str, object]]:
        """A car, and an e-bike (no plate) or, half the time, a second motor vehicle."""
        kinds = ["car"]
        if ebike:
            kinds.append("ebike")
        elif self.rng.random() < 0.5:
            kinds.append(self.rng.choice(("car", "truck", "motorcycle")))
        out: list[dict[str, object]] = []
        for kind in kinds:
            if kind == "ebike":
                out.append({"plate": None, "vehicle_class": "ebike"})
                continue
            v = make_vehicle(self.rng, kind, city)
            out.append({"plate": v.plate, "plate_color": v.plate_color, "vehicle_class": v.vehicle_class})
        return out

    def _accident(self, now: datetime) -> SimMessage:
        occurred = now - timedelta(minutes=self.rng.uniform(2, 15))
        device, lat, lon, feature, rural = self._place(occurred)
        severity, injured, killed = self._severity(occurred, rural)
        ebike = self.rng.random() < (0.35 if rural else 0.25)
        self._seq += 1
        accident_id = f"{device.admin_code}-A-{occurred:%Y%m%d}-{self._run}{self._seq:06d}"
        vehicles = self._vehicles(device.admin_code[:4] + "00", ebike=ebike)
        value = {
            "accident_id": accident_id,
            "occurred_at": occurred.isoformat(timespec="seconds"),
            "reported_at": min(now, occurred + timedelta(minutes=self.rng.uniform(1, 6))).isoformat(
                timespec="seconds"
            ),
            "source": self.rng.choices(SOURCES, weights=(70, 25, 5))[0],
            "location": {
                "lat": lat,
                "lon": lon,
                "admin_code": device.admin_code,
                "road": device.road,
                "km": device.km,
            },
            "road_feature": feature,
            "severity": severity,
            "injured": injured,
            "killed": killed,
            "vehicles": vehicles,
            "ebike_involved": ebike,
            "rural": rural,
        }
        c = self.counts
        c.valid += 1
        c.rural += rural
        c.fatal += severity == "fatal"
        c.major += killed >= 3
        c.ebike += ebike
        return SimMessage(accident_id.encode(), orjson.dumps(value), "valid", accident_id)
