from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class PassageList(BaseModel):
    """Newest first; each item is a VehiclePassage (nulls left out) with ``received_at``."""

    items: list[dict[str, Any]]
    next_cursor: str | None
