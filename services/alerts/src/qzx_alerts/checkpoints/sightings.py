"""Each plate's last sighting, held with the partition that owns the plate (passages.accepted.v1 is
keyed by plate, so one partition carries all of a plate's passages), bounded in memory.

A province has tens of millions of plates, so the state is compact: the plate as UTF-8 bytes, and
the sighting packed in one bytes value (the place's number, the time, the passage id, the id's
device prefix left out when it has one) against the partition's table of places (device and
position), each held once. About 145 bytes a plate, where a tuple of Python objects took about 500
(docs/benchmarks.md). Each partition holds its own places, so that it is written to and read from a
snapshot whole (``snapshot``) and can move to another process as it is.
"""

from __future__ import annotations

import struct
from typing import NamedTuple


class Last(NamedTuple):
    """A plate's last sighting, as a clone check reads it."""

    passage_id: str
    device_id: str
    lat: float
    lon: float
    admin_code: str
    ts: float  # unix seconds


Place = tuple[str, float, float, str]  # device_id, lat, lon, admin_code

# place number, capture time, whether the passage id is "<device id>-<rest>" (only the rest kept)
_HEAD = struct.Struct("<Id?")


class Places:
    """Each distinct (device, position) once, numbered: a sighting refers to it by number."""

    def __init__(self, places: list[Place] | None = None) -> None:
        self.places: list[Place] = places or []
        self.number: dict[Place, int] = {place: n for n, place in enumerate(self.places)}

    def of(self, place: Place) -> int:
        n = self.number.get(place)
        if n is None:
            n = self.number[place] = len(self.places)
            self.places.append(place)
        return n


class Partition:
    """One partition's plates (packed plate → packed last sighting, least recently seen first) and
    the places they refer to."""

    def __init__(self, plates: dict[bytes, bytes] | None = None, places: list[Place] | None = None) -> None:
        self.plates: dict[bytes, bytes] = plates or {}
        self.places = Places(places)

    def __len__(self) -> int:
        return len(self.plates)


class LastSightings:
    """partition → plate → last sighting. Each partition keeps at most ``max_plates``: a plate seen
    again moves to the end, and the least recently seen go first (a plate unseen for longer than
    the clone window could raise nothing anyway)."""

    def __init__(self, *, max_plates: int) -> None:
        self.max_plates = max_plates
        self.partitions: dict[int, Partition] = {}

    def __len__(self) -> int:
        return sum(len(p) for p in self.partitions.values())

    def get(self, partition: int, plate: str) -> Last | None:
        part = self.partitions.get(partition)
        if part is None:
            return None
        packed = part.plates.get(plate.encode())
        return None if packed is None else _unpack(part.places, packed)

    def put(self, partition: int, plate: str, last: Last) -> None:
        part = self.partitions.get(partition)
        if part is None:
            part = self.partitions[partition] = Partition()
        plates = part.plates
        key = plate.encode()
        kept = plates.pop(key, None)
        if kept is not None and _HEAD.unpack_from(kept)[1] > last.ts:
            plates[key] = kept  # an earlier passage delivered late: the later one stays the last
        else:
            plates[key] = _pack(part.places, last)
        while len(plates) > self.max_plates:
            del plates[next(iter(plates))]

    def replace(self, partition: int, part: Partition) -> None:
        """``partition``'s state as a snapshot held it (bounded as the rest)."""
        while len(part.plates) > self.max_plates:
            del part.plates[next(iter(part.plates))]
        self.partitions[partition] = part


def _pack(places: Places, last: Last) -> bytes:
    place = places.of((last.device_id, last.lat, last.lon, last.admin_code))
    prefix = last.device_id + "-"
    short = last.passage_id.startswith(prefix)
    rest = last.passage_id[len(prefix) :] if short else last.passage_id
    return _HEAD.pack(place, last.ts, short) + rest.encode()


def _unpack(places: Places, packed: bytes) -> Last:
    place, ts, short = _HEAD.unpack_from(packed)
    device_id, lat, lon, admin_code = places.places[place]
    rest = packed[_HEAD.size :].decode()
    return Last(f"{device_id}-{rest}" if short else rest, device_id, lat, lon, admin_code, ts)
