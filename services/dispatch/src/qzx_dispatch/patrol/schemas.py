from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN
from qzx_common.contracts.tasks import Outcome, Task


class PatrolTasks(BaseModel):
    tasks: list[Task]
    cursor: int


class StatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["en_route", "on_scene"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: str | None = Field(default=None, max_length=2000)


class LocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=LAT_MIN, le=LAT_MAX)
    lon: float = Field(ge=LON_MIN, le=LON_MAX)
    at: AwareDatetime


class LocationResult(BaseModel):
    unit_id: str
    lat: float
    lon: float
    at: datetime
    applied: bool = Field(description="false when a newer position was already stored")
