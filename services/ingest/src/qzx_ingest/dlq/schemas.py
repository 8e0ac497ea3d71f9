from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeadLetter(BaseModel):
    id: int
    source: str
    partition: int | None
    offset: int | None
    key: str | None
    raw: str
    error: str
    received_at: datetime


class DeadLetterList(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None
