"""The pure camera-stream generator: no I/O, deterministic for a seed and a ``StepClock``.

``EventGenerator(seed=1).batch(n)`` returns ``n`` messages (key = device id, value = ViolationEvent
JSON), the stream the simulator sends and the benchmarks and tests consume directly. Besides plain
events it weaves in the scenarios the alerting must find: repeat offenders (a pool of plates that
recur, each at most once per ``offender_rest_s`` of simulated time: a car is at one camera at a
time, and at a high rate a pool that recurs every second would be a stream of impossible journeys,
not of offenders), cloned plates (one plate seen at two distant cities minutes apart), racing groups (2-4
vehicles at one speed camera within a minute), replayed event ids and malformed messages.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson

from qzx_common.contracts.devices import DEVICES, Device
from qzx_common.contracts.geo import CITIES, haversine_km
from qzx_dev.simulator.clock import Clock, SimClock
from qzx_dev.simulator.malformed import CORRUPTIONS
from qzx_dev.simulator.patterns import mix_at
from qzx_dev.simulator.plates import Vehicle, home_city_for, make_vehicle
from qzx_dev.simulator.violations import (
    DEVICE_KIND,
    PLATELESS,
    measurements_for,
    vehicle_class_for,
)

# Rough population (millions): busier cities see more traffic and more violations.
CITY_WEIGHT = {
    "370100": 9.4, "370200": 10.3, "370300": 4.7, "370400": 3.9, "370500": 2.2, "370600": 7.1,
    "370700": 9.4, "370800": 8.4, "370900": 5.5, "371000": 2.9, "371100": 3.0, "371300": 11.0,
    "371400": 5.6, "371500": 5.9, "371600": 3.9, "371700": 8.8,
}  # fmt: skip
CLONE_MIN_KM = 150.0  # the two sightings of a cloned plate are at least this far apart...
CLONE_MAX_GAP = timedelta(minutes=10)  # ...and at most this long apart: over 900 km/h.


@dataclass(frozen=True, slots=True)
class SimMessage:
    key: bytes
    value: bytes
    kind: str  # "valid" | "duplicate" | "malformed"
    event_id: str | None = None  # valid and duplicate messages
    scenario: str | None = None  # "repeat" | "clone" | "racing" for the woven-in patterns
    group: int | None = None  # clone pairs and racing groups share a group number
    reject: str | None = None  # malformed: which corruption
    reason_field: str | None = None  # malformed: what the reject reason must name


@dataclass
class Counts:
    valid: int = 0
    duplicates: int = 0
    malformed: int = 0
    clones: int = 0
    racing_groups: int = 0
    by_violation: dict[str, int] = field(default_factory=dict)


class EventGenerator:
    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        dup_share: float = 0.02,
        bad_share: float = 0.01,
        repeat_share: float = 0.15,
        clone_share: float = 0.002,
        racing_group_share: float = 0.6,
        offender_pool: int = 300,
        offender_rest_s: float = 1800.0,
        evidence_url: str | None = None,
    ) -> None:
        if not 0 <= dup_share + bad_share < 1:
            raise ValueError("dup_share + bad_share must be in [0, 1)")
        self.rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.dup_share, self.bad_share = dup_share, bad_share
        self.repeat_share, self.clone_share = repeat_share, clone_share
        self.racing_group_share = racing_group_share
        # None: s3:// URIs (as a camera vendor's store would give); else the dev evidence server's base.
        self.evidence_url = evidence_url.rstrip("/") if evidence_url else None
        self.counts = Counts()
        self._seq = self.rng.randrange(1_000_000)
        self.last_clock: datetime | None = None  # the simulated time of the latest message
        self._group = 0
        self._pending: deque[SimMessage] = deque()
        self._recent: deque[SimMessage] = deque(maxlen=2000)
        self._devices = _devices_by_kind()
        self._offenders = self._offender_pool(offender_pool)
        self._offender_rest = timedelta(seconds=offender_rest_s)
        self._last_offence: dict[str, datetime] = {}  # offender's plate → its latest offence

    # --- public API -------------------------------------------------------------------------

    def batch(self, n: int) -> list[SimMessage]:
        return [self.next_message() for _ in range(n)]

    def __iter__(self) -> Iterator[SimMessage]:
        while True:
            yield self.next_message()

    def next_message(self) -> SimMessage:
        if self._pending:
            return self._pending.popleft()
        r = self.rng.random()
        if r < self.dup_share:
            if self._recent:
                return self._duplicate()
        elif r < self.dup_share + self.bad_share:
            return self._malformed(self._now())
        now = self._now()
        if self.rng.random() < self.clone_share:
            self._emit_clone_pair(now)
        else:
            self._emit_ordinary(now)
        return self._pending.popleft()

    def _now(self) -> datetime:
        self.last_clock = self.clock.now()
        return self.last_clock

    # --- scenarios ----------------------------------------------------------------------------

    def _emit_ordinary(self, now: datetime) -> None:
        names, cumulative = mix_at(now)
        violation = self.rng.choices(names, cum_weights=cumulative)[0]
        if violation == "street_racing" and self.rng.random() < self.racing_group_share:
            self._emit_racing_group(now)
            return
        vehicle, scenario = self._vehicle_for(violation, now)
        device = self._device(DEVICE_KIND[violation], vehicle.home_city if vehicle else None)
        if vehicle is None and violation not in PLATELESS:
            vehicle = self._fresh_vehicle(violation, device)
        at = now - timedelta(seconds=self.rng.uniform(0, 2))  # camera upload delay
        self._push_event(violation, device, vehicle, at, scenario=scenario)

    def _emit_racing_group(self, now: datetime) -> None:
        """2-4 vehicles through the same speed camera within a minute, late at night."""
        device = self._device("speed_camera", None)
        self._group += 1
        self.counts.racing_groups += 1
        plates: set[str] = set()
        for _ in range(self.rng.choice((2, 2, 3, 3, 4))):
            vehicle, _ = self._vehicle_for("street_racing", now)
            if vehicle is None or vehicle.plate in plates:
                vehicle = self._fresh_vehicle("street_racing", device)
            plates.add(vehicle.plate)
            at = now - timedelta(seconds=self.rng.uniform(0, 55))
            self._push_event("street_racing", device, vehicle, at, scenario="racing", group=self._group)

    def _emit_clone_pair(self, now: datetime) -> None:
        """One plate on two cars: sightings in two distant cities a few minutes apart."""
        first = self._device("checkpoint", None)
        far = [d for d in self._devices["checkpoint"] if _distance(first, d) >= CLONE_MIN_KM]
        second = self.rng.choice(far)
        vehicle = make_vehicle(self.rng, "car", first.admin_code[:4] + "00")
        gap = timedelta(minutes=self.rng.uniform(2, CLONE_MAX_GAP.total_seconds() / 60 - 0.5))
        self._group += 1
        self.counts.clones += 1
        second_at = now - timedelta(seconds=self.rng.uniform(0, 20))
        for device, at in ((first, second_at - gap), (second, second_at)):
            violation = self.rng.choice(("red_light", "wrong_way"))
            self._push_event(violation, device, vehicle, at, scenario="clone", group=self._group)

    def _duplicate(self) -> SimMessage:
        """A camera re-sending an event it already sent (same bytes, same event_id)."""
        original = self.rng.choice(self._recent)
        self.counts.duplicates += 1
        return SimMessage(original.key, original.value, "duplicate", original.event_id, original.scenario)

    def _malformed(self, now: datetime) -> SimMessage:
        names, cumulative = mix_at(now)
        violation = self.rng.choices(names, cum_weights=cumulative)[0]
        device = self._device(DEVICE_KIND[violation], None)
        vehicle = None if violation in PLATELESS else self._fresh_vehicle(violation, device)
        event = self._event(violation, device, vehicle, now)
        reject = self.rng.choice(tuple(CORRUPTIONS))
        value, reason_field = CORRUPTIONS[reject](self.rng, event, now)
        self.counts.malformed += 1
        return SimMessage(
            device.device_id.encode(), value, "malformed", reject=reject, reason_field=reason_field
        )

    # --- building blocks ----------------------------------------------------------------------

    def _push_event(
        self,
        violation: str,
        device: Device,
        vehicle: Vehicle | None,
        at: datetime,
        *,
        scenario: str | None = None,
        group: int | None = None,
    ) -> None:
        event = self._event(violation, device, vehicle, at)
        message = SimMessage(
            device.device_id.encode(), orjson.dumps(event), "valid", event["event_id"], scenario, group
        )
        self.counts.valid += 1
        self.counts.by_violation[violation] = self.counts.by_violation.get(violation, 0) + 1
        self._recent.append(message)
        self._pending.append(message)

    def _event(self, violation: str, device: Device, vehicle: Vehicle | None, at: datetime) -> dict[str, Any]:
        self._seq = (self._seq + 1) % 1_000_000
        event_id = f"{device.device_id}-{at:%Y%m%dT%H%M%S}-{self._seq:06d}"
        jitter = self.rng.uniform
        event: dict[str, Any] = {
            "event_id": event_id,
            "device_id": device.device_id,
            "device_kind": device.kind,
            "captured_at": at.isoformat(timespec="seconds"),
            "violation": violation,
            "plate": vehicle.plate if vehicle else None,
            "plate_color": vehicle.plate_color if vehicle else None,
            "vehicle_class": vehicle.vehicle_class if vehicle else vehicle_class_for(self.rng, violation),
            "location": {
                "lat": round(device.lat + jitter(-3e-4, 3e-4), 6),
                "lon": round(device.lon + jitter(-3e-4, 3e-4), 6),
                "admin_code": device.admin_code,
                "road": device.road,
                "km": round(device.km + jitter(-0.05, 0.05), 2),
            },
            "confidence": round(self.rng.uniform(0.82, 0.995), 3),
            "evidence": [
                {
                    "uri": self._evidence_uri(device, vehicle, at, f"{event_id}-{i}.jpg"),
                    "sha256": hashlib.sha256(f"{event_id}/{i}".encode()).hexdigest(),
                }
                for i in range(self.rng.choice((1, 1, 2)))
            ],
        }
        measurements = measurements_for(self.rng, violation, device.device_id)
        if measurements:
            event["measurements"] = measurements
        return event

    def _evidence_uri(self, device: Device, vehicle: Vehicle | None, at: datetime, name: str) -> str:
        path = f"{device.admin_code}/{at:%Y%m%d}/{name}"
        if self.evidence_url is None:
            return f"s3://evidence/{path}"
        query = {"device": device.device_id} | ({"plate": vehicle.plate} if vehicle else {})
        return f"{self.evidence_url}/{path}?{urlencode(query)}"

    def _vehicle_for(self, violation: str, now: datetime) -> tuple[Vehicle | None, str | None]:
        """A repeat offender (with ``repeat_share``) whose class fits and who has rested since
        their last offence, else None (a fresh vehicle)."""
        if violation in PLATELESS or self.rng.random() >= self.repeat_share:
            return None, None
        cls = vehicle_class_for(self.rng, violation)
        pool, weights = self._offenders.get(cls, ((), ()))
        if not pool:
            return None, None
        offender = self.rng.choices(pool, cum_weights=weights)[0]
        last = self._last_offence.get(offender.plate)
        if last is not None and now - last < self._offender_rest:
            return None, None
        self._last_offence[offender.plate] = now
        return offender, "repeat"

    def _fresh_vehicle(self, violation: str, device: Device) -> Vehicle:
        cls = vehicle_class_for(self.rng, violation)
        visitors = 0.25 if cls in ("truck", "hazmat") else 0.05
        return make_vehicle(
            self.rng, cls, home_city_for(self.rng, device.admin_code[:4] + "00", visitor_share=visitors)
        )

    def _device(self, kind: str, home_city: str | None) -> Device:
        """Offenders mostly offend near home; others are spread by the cities' traffic."""
        if home_city and self.rng.random() < 0.7:
            local = self._devices.get((kind, home_city))
            if local:
                return self.rng.choice(local)
        city = self.rng.choices(_CITY_CODES, cum_weights=_CITY_CUM)[0]
        return self.rng.choice(self._devices[kind, city])

    def _offender_pool(self, size: int) -> dict[str, tuple[tuple[Vehicle, ...], tuple[float, ...]]]:
        """Per vehicle class: offenders and cumulative Zipf-like weights (a few recur very often)."""
        by_class: dict[str, list[Vehicle]] = {}
        classes = ("car", "truck", "motorcycle", "bus", "hazmat", "other")
        for _ in range(size):
            cls = self.rng.choices(classes, weights=(60, 25, 8, 3, 2, 2))[0]
            home = self.rng.choices(_CITY_CODES, cum_weights=_CITY_CUM)[0]
            by_class.setdefault(cls, []).append(make_vehicle(self.rng, cls, home))
        pools = {}
        for cls, vehicles in by_class.items():
            total, cumulative = 0.0, []
            for rank in range(len(vehicles)):
                total += 1 / (rank + 1) ** 0.9
                cumulative.append(total)
            pools[cls] = (tuple(vehicles), tuple(cumulative))
        return pools


_CITY_CODES = tuple(c.code for c in CITIES)
_CITY_CUM = tuple(sum(CITY_WEIGHT[c] for c in _CITY_CODES[: i + 1]) for i in range(len(_CITY_CODES)))


def _devices_by_kind() -> dict[Any, list[Device]]:
    """Devices keyed by kind and by (kind, city code)."""
    index: dict[Any, list[Device]] = {}
    for d in DEVICES:
        index.setdefault(d.kind, []).append(d)
        index.setdefault((d.kind, d.admin_code[:4] + "00"), []).append(d)
    return index


def _distance(a: Device, b: Device) -> float:
    return haversine_km(a.lat, a.lon, b.lat, b.lon)
