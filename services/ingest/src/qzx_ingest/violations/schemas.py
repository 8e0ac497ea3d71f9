from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ViolationList(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None
