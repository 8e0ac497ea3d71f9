from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qzx_common.contracts.tasks import Task


class Recommendations(BaseModel):
    alert_id: str
    state: str = Field(description="dispatch's view of the alert: pending, handled or closed")
    waiting_reason: str | None = Field(description="why no unit took it yet (pending alerts)")
    active_task_id: str | None
    needs: list[str]
    enforcement: bool
    ranked: list[dict[str, Any]] = Field(description="best first: unit_id, travel_s, workload, city_code, …")
    reserved: list[dict[str, Any]] = Field(description="units held back, each with its 'why'")
    excluded: dict[str, int] = Field(description="units left out, counted by reason")
    no_unit_reason: str | None


class DispatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(min_length=1, max_length=64)
    unit_id: str = Field(min_length=1, max_length=64, description="one of the recommended units")
    reason: str = Field(min_length=3, max_length=500)


class DispatchResult(BaseModel):
    task: Task


class EscalateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=3, max_length=500)


class PendingAlert(BaseModel):
    alert_id: str
    priority: str
    kind: str
    violations: list[str]
    plate: str | None
    admin_code: str
    first_seen: datetime
    waiting_since: datetime = Field(description="first_seen, or when the alert was re-queued")
    waited_s: float = Field(description="seconds since waiting_since")
    reason: str | None = Field(description="why no unit took it at its last try")
    requeued: bool = Field(description="its unit was pre-empted by a more urgent alert")
    attempts: int
    next_try_at: datetime | None


class PendingList(BaseModel):
    items: list[PendingAlert]
    next_cursor: str | None
