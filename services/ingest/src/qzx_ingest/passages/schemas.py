from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class PassageList(BaseModel):
    """Newest first; each item is a VehiclePassage (nulls left out) with ``received_at``."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class Companion(BaseModel):
    plate: str
    count: int  # how many of the target's passages it accompanied
    devices: int  # at how many distinct devices
    first_seen: datetime
    last_seen: datetime


class CompanionList(BaseModel):
    """Plates that travelled with ``plate`` (伴随车), most often first."""

    plate: str
    window_s: int
    items: list[Companion]
