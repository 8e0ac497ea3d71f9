"""Every active hotlist entry in memory, by plate: a passage is matched without a database round
trip. Kept current by ``repository.changes`` (the entries changed since the last look)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from qzx_alerts.scoring.domain import HotlistHit


@dataclass(frozen=True, slots=True)
class WatchEntry:
    hit: HotlistHit  # what scoring knows of an entry (priority floor, covert, owner's scope)
    plate_color: str | None  # None: any colour
    expires_ts: float | None  # unix seconds; None: never

    def matches(self, color: str | None, admin_code: str, now_ts: float) -> bool:
        return (
            (self.plate_color is None or self.plate_color == color)
            and (self.expires_ts is None or self.expires_ts > now_ts)
            and self.hit.applies_to(admin_code)
        )


class HotlistIndex:
    """plate → its entries; ``cursor`` is the last ``hotlist_changes`` id applied."""

    def __init__(self) -> None:
        self.by_plate: dict[str, tuple[WatchEntry, ...]] = {}
        self.plate_of: dict[str, str] = {}
        self.cursor = 0

    def __len__(self) -> int:
        return len(self.plate_of)

    def match(self, plate: str, color: str | None, admin_code: str, now_ts: float) -> list[WatchEntry]:
        entries = self.by_plate.get(plate)
        if not entries:
            return []
        return [e for e in entries if e.matches(color, admin_code, now_ts)]

    def replace(self, ids: Iterable[str], entries: Iterable[WatchEntry]) -> None:
        """The current state of the entries ``ids``: those in ``entries`` are put, the rest were
        deleted (or expired) and are removed."""
        for entry_id in ids:
            self._remove(entry_id)
        for e in entries:
            self._remove(e.hit.id)
            self.plate_of[e.hit.id] = e.hit.plate
            self.by_plate[e.hit.plate] = (*self.by_plate.get(e.hit.plate, ()), e)

    def _remove(self, entry_id: str) -> None:
        plate = self.plate_of.pop(entry_id, None)
        if plate is None:
            return
        kept = tuple(e for e in self.by_plate.get(plate, ()) if e.hit.id != entry_id)
        if kept:
            self.by_plate[plate] = kept
        else:
            self.by_plate.pop(plate, None)


def expires_ts(at: datetime | None) -> float | None:
    return at.timestamp() if at is not None else None
