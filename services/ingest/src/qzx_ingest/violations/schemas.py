from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ViolationList(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class ExchangeBatch(BaseModel):
    events: list[Any]


class ItemError(BaseModel):
    index: int
    error: str


class ExchangeResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[ItemError]
