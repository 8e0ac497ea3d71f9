"""The pure checkpoint-passage generator: no I/O, deterministic for a seed and a ``StepClock``.

``PassageGenerator(seed=1).batch(n)`` returns up to ``n`` messages (key = device id, value =
VehiclePassage JSON). Vehicles make trips along the roads between checkpoints (the spokes of
``qzx_common.contracts.devices``, and on to a neighbouring city): a trip's first passage is now,
each next one when the vehicle, at its own speed, reaches the next checkpoint. Among them: the
hotlisted plates (``hotlisted``, by default the demo world's) and cloned
plates (one plate on two vehicles in distant cities at once). ``daily_factor`` is the shape of a
day's traffic, which the stream applies to its mean rate.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson

from qzx_common.contracts.devices import DEVICES, Device
from qzx_common.contracts.geo import haversine_km
from qzx_dev.demo.world import HOTLIST
from qzx_dev.simulator.clock import Clock, SimClock
from qzx_dev.simulator.generator import SimMessage
from qzx_dev.simulator.plates import Vehicle, home_city_for, make_vehicle

# The plates the demo world puts on its hotlists.
DEMO_HOTLISTED = tuple(plate for plate, *_ in HOTLIST)
# Traffic by local hour, relative: quiet small hours, the two rush hours, a busy afternoon.
HOURLY = (0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.8, 1.7, 1.9, 1.3, 1.1, 1.1,
          1.1, 1.0, 1.1, 1.2, 1.4, 1.8, 1.9, 1.4, 1.0, 0.8, 0.5, 0.3)  # fmt: skip
_MEAN = sum(HOURLY) / 24
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
CLONE_MIN_KM = 150.0
DETOUR = 1.3  # road distance over the straight line
# Plates remembered as issued, so that no two vehicles share one: the oldest is forgotten first, so
# a plate comes back only after this many newer ones (at a province's peak, ~10,000 new trips a
# second, 13 minutes; forgetting them all at once had vehicles on the road share plates, which
# the clone check rightly flagged by the hundred thousand).
MAX_ISSUED = 8_000_000


def daily_factor(local: datetime) -> float:
    """The rate at ``local`` (+08:00) as a multiple of the day's mean, interpolated by minute."""
    h, frac = local.hour, local.minute / 60
    return (HOURLY[h] * (1 - frac) + HOURLY[(h + 1) % 24] * frac) / _MEAN


def compass(a: Device, b: Device) -> str:
    """The direction of travel from ``a`` to ``b`` (eight points)."""
    y = b.lat - a.lat
    x = (b.lon - a.lon) * math.cos(math.radians(a.lat))
    deg = math.degrees(math.atan2(x, y)) % 360
    return COMPASS[int((deg + 22.5) // 45) % 8]


def _spokes() -> dict[str, list[Device]]:
    """Each spoke's checkpoints, from the city outwards (a district per spoke)."""
    spokes: dict[str, list[Device]] = {}
    for d in DEVICES:
        if d.kind == "checkpoint":
            spokes.setdefault(d.admin_code, []).append(d)
    return {k: sorted(v, key=lambda d: d.km) for k, v in spokes.items()}


@dataclass(order=True)
class _Leg:
    due: datetime
    seq: int
    vehicle: Vehicle = field(compare=False)
    route: tuple[Device, ...] = field(compare=False)
    index: int = field(compare=False)
    speed_kmh: float = field(compare=False)
    scenario: str | None = field(compare=False, default=None)


@dataclass
class PassageCounts:
    valid: int = 0
    trips: int = 0
    hotlisted: int = 0
    clones: int = 0
    racing_groups: int = 0  # none here (the progress line names them for violations)


class PassageGenerator:
    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        hotlisted: Sequence[str] = DEMO_HOTLISTED,
        hotlisted_share: float = 0.002,
        clone_share: float = 0.001,
        max_trips: int = 200_000,
    ) -> None:
        self.rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.hotlisted, self.hotlisted_share, self.clone_share = (
            tuple(hotlisted),
            hotlisted_share,
            clone_share,
        )
        self.max_trips = max_trips
        self.counts = PassageCounts()
        self.last_clock: datetime | None = None
        self._legs: list[_Leg] = []
        self._seq = 0
        self._spokes = _spokes()
        self._spoke_ids = sorted(self._spokes)
        self._issued: set[str] = set()
        self._issue_order: deque[str] = deque()
        self._driving: set[str] = set()  # hotlisted plates on a trip

    def batch(self, n: int) -> list[SimMessage]:
        """``n`` passages: the legs now due first, then first passages of new trips."""
        now = self.last_clock = self.clock.now()
        out: list[SimMessage] = []
        while len(out) < n and self._legs and self._legs[0].due <= now:
            out.append(self._pass(heapq.heappop(self._legs)))
        while len(out) < n:
            for leg in self._start_trips(now):
                out.append(self._pass(leg))
        return out

    def _start_trips(self, now: datetime) -> list[_Leg]:
        r = self.rng.random()
        if r < self.clone_share:
            return self._clone_pair(now)
        route = self._route()
        if r < self.clone_share + self.hotlisted_share and (plate := self._parked_hotlisted()):
            self._driving.add(plate)
            vehicle = Vehicle(plate, "blue", "car", route[0].admin_code[:4] + "00")
            self.counts.hotlisted += 1
            return [self._trip(vehicle, route, now, scenario="hotlisted")]
        home = home_city_for(self.rng, route[0].admin_code[:4] + "00", visitor_share=0.08)
        kind = self.rng.choices(("car", "truck", "bus", "motorcycle"), weights=(78, 15, 4, 3))[0]
        return [self._trip(self._vehicle(kind, home), route, now)]

    def _parked_hotlisted(self) -> str | None:
        """A hotlisted plate not on a trip now (a wanted car is one car: the clone scenario is
        the one with a plate in two places), or None when all of them are out."""
        for _ in range(8):
            plate = self.rng.choice(self.hotlisted) if self.hotlisted else None
            if plate is not None and plate not in self._driving:
                return plate
        return None

    def _vehicle(self, kind: str, home: str) -> Vehicle:
        """A vehicle whose plate no other has (two cars with one plate are the clone scenario's)."""
        while True:
            vehicle = make_vehicle(self.rng, kind, home)
            if vehicle.plate not in self._issued and vehicle.plate not in self.hotlisted:
                if len(self._issue_order) >= MAX_ISSUED:
                    self._issued.discard(self._issue_order.popleft())
                self._issued.add(vehicle.plate)
                self._issue_order.append(vehicle.plate)
                return vehicle

    def _clone_pair(self, now: datetime) -> list[_Leg]:
        """One plate on two vehicles: trips starting at once in cities at least 150 km apart."""
        first = self._route()
        while True:
            second = self._route()
            if haversine_km(first[0].lat, first[0].lon, second[0].lat, second[0].lon) >= CLONE_MIN_KM:
                break
        vehicle = self._vehicle("car", first[0].admin_code[:4] + "00")
        self.counts.clones += 1
        return [self._trip(vehicle, r, now, scenario="clone") for r in (first, second)]

    def _route(self, spoke: str | None = None) -> tuple[Device, ...]:
        """Along a spoke, out of town or into it, sometimes on into a neighbouring city."""
        stops = list(self._spokes[spoke or self.rng.choice(self._spoke_ids)])
        if self.rng.random() < 0.5:
            stops.reverse()  # into town
        elif self.rng.random() < 0.3:  # on to the nearest spoke of another city, inwards
            end = stops[-1]
            others = [s for s in self._spoke_ids if s[:4] != end.admin_code[:4]]
            nearest = min(others, key=lambda s: haversine_km(end.lat, end.lon, self._spokes[s][-1].lat,
                                                               self._spokes[s][-1].lon))  # fmt: skip
            stops += reversed(self._spokes[nearest])
        return tuple(stops)

    def _trip(
        self, vehicle: Vehicle, route: tuple[Device, ...], now: datetime, *, scenario: str | None = None
    ) -> _Leg:
        self.counts.trips += 1
        at = now - timedelta(seconds=self.rng.uniform(0, 2))
        return self._leg(vehicle, route, 0, at, self.rng.uniform(60, 110), scenario)

    def _leg(self, vehicle: Vehicle, route: tuple[Device, ...], index: int, due: datetime, speed: float,
             scenario: str | None) -> _Leg:  # fmt: skip
        self._seq += 1
        return _Leg(due, self._seq, vehicle, route, index, speed, scenario)

    def _pass(self, leg: _Leg) -> SimMessage:
        """The passage of ``leg``, scheduling the trip's next checkpoint."""
        here = leg.route[leg.index]
        last = not (leg.index + 1 < len(leg.route) and len(self._legs) < self.max_trips)
        if last and leg.scenario == "hotlisted":
            self._driving.discard(leg.vehicle.plate)
        if not last:
            there = leg.route[leg.index + 1]
            hours = haversine_km(here.lat, here.lon, there.lat, there.lon) * DETOUR / leg.speed_kmh
            nxt = self._leg(leg.vehicle, leg.route, leg.index + 1, leg.due + timedelta(hours=hours), leg.speed_kmh,
                            leg.scenario)  # fmt: skip
            heapq.heappush(self._legs, nxt)
        before = leg.route[leg.index - 1] if leg.index else None
        after = leg.route[leg.index + 1] if leg.index + 1 < len(leg.route) else None
        direction = compass(before, here) if before else compass(here, after) if after else "outbound"
        self.counts.valid += 1
        passage_id = f"{here.device_id}-{leg.due:%Y%m%dT%H%M%S}-{self._seq:07d}"
        value = {
            "passage_id": passage_id,
            "device_id": here.device_id,
            "captured_at": leg.due.isoformat(timespec="milliseconds"),
            "plate": leg.vehicle.plate,
            "plate_color": leg.vehicle.plate_color,
            "vehicle_class": leg.vehicle.vehicle_class,
            "direction": direction,
            "lane": self.rng.randint(1, 3),
            "speed_kmh": round(leg.speed_kmh + self.rng.uniform(-8, 8), 1),
            "location": {
                "lat": here.lat,
                "lon": here.lon,
                "admin_code": here.admin_code,
                "road": here.road,
                "km": here.km,
            },
            "confidence": round(self.rng.uniform(0.85, 0.995), 3),
        }
        return SimMessage(here.device_id.encode(), orjson.dumps(value), "valid", passage_id, leg.scenario)
