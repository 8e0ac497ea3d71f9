from __future__ import annotations

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
