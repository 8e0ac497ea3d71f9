from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_EVENTS = 1000


class ExchangeBatch(BaseModel):
    """Each event is validated on its own (a bad one is a per-item error, not a 422)."""

    events: list[Any] = Field(max_length=MAX_EVENTS)


class AccidentBatch(BaseModel):
    """Each AccidentReport is validated on its own, as the events are."""

    accidents: list[Any] = Field(max_length=MAX_EVENTS)


class ItemError(BaseModel):
    index: int
    error: str


class ExchangeResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[ItemError]
