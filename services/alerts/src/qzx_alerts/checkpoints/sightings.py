"""Each plate's last sighting, held with the partition that owns the plate (passages.accepted.v1 is
keyed by plate, so one partition carries all of a plate's passages), bounded in memory."""

from __future__ import annotations

from typing import NamedTuple


class Last(NamedTuple):
    """A plate's last sighting, as small as a clone check allows."""

    passage_id: str
    device_id: str
    lat: float
    lon: float
    admin_code: str
    ts: float  # unix seconds


class LastSightings:
    """partition → plate → last sighting. Each partition keeps at most ``max_plates``: a plate seen
    again moves to the end, and the least recently seen go first (a plate unseen for longer than
    the clone window could raise nothing anyway)."""

    def __init__(self, *, max_plates: int) -> None:
        self.max_plates = max_plates
        self.partitions: dict[int, dict[str, Last]] = {}

    def __len__(self) -> int:
        return sum(len(p) for p in self.partitions.values())

    def get(self, partition: int, plate: str) -> Last | None:
        return self.partitions.get(partition, {}).get(plate)

    def put(self, partition: int, plate: str, last: Last) -> None:
        plates = self.partitions.setdefault(partition, {})
        if (kept := plates.pop(plate, None)) is not None and kept.ts > last.ts:
            last = kept  # an earlier passage delivered late: the later one stays the last
        plates[plate] = last
        while len(plates) > self.max_plates:
            del plates[next(iter(plates))]
