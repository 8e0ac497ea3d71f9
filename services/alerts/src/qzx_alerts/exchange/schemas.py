from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

MAX_ENTRIES = 5000
FEED_MAX = 1000


class HotlistBatch(BaseModel):
    """Watch-list entries (plate, priority, reason, covert, expires_at, admin_code), each validated on
    its own; the source is always ``exchange:<key_id>``, so re-sending a list merges into it."""

    entries: list[Any] = Field(max_length=MAX_ENTRIES)


class ItemError(BaseModel):
    index: int
    error: str


class HotlistResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: list[ItemError]


class Feed(BaseModel):
    """Alert states (including their dispositions: status, task, outcome) in commit order.
    ``next_cursor`` is always set: poll again with it to get what changed since."""

    items: list[dict[str, Any]]
    next_cursor: str


class CityStats(BaseModel):
    city_code: str
    name: str
    violations: int
    violations_by_type: dict[str, int]
    alerts: int
    alerts_by_priority: dict[str, int]
    dispatched: int
    resolved: int
    dismissed: int
    escalated: int


class DailyStats(BaseModel):
    date: date
    utc_offset: str = "+08:00"
    cities: list[CityStats]
