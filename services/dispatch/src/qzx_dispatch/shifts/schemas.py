from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qzx_dispatch.org.schemas import AdminCode


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin_code: AdminCode
    start_date: date | None = Field(
        default=None, description="local (UTC+8) date of hour 0; default tomorrow"
    )
    hours: int = Field(default=168, ge=1, le=336)
    demand: list[Annotated[float, Field(ge=0, le=1000)]] | None = Field(
        default=None,
        max_length=336,
        description="units needed per hour; default: from the alert and accident history",
    )
    shift_hours: int = Field(default=8, ge=2, le=16)
    start_hours: list[Annotated[int, Field(ge=0, le=23)]] | None = Field(
        default=None, description="hours of day a shift may start; default every hour"
    )
    min_rest_hours: int = Field(default=12, ge=0, le=48)
    head_count: int | None = Field(default=None, ge=1, le=10_000)
    max_on_duty: int | None = Field(default=None, ge=0, le=10_000)
    max_per_start: int | None = Field(default=None, ge=0, le=10_000)
    min_units: int = Field(default=1, ge=0, le=100, description="floor per hour for history-based demand")
    utilisation: float = Field(default=0.6, ge=0.05, le=1, description="target busy share of a unit (0.05–1)")
    handling_hours: dict[str, Annotated[float, Field(gt=0, le=24)]] | None = None
    cyclic: bool = True

    @model_validator(mode="after")
    def _horizon(self) -> PlanRequest:
        if self.demand is not None:
            self.hours = len(self.demand)
            if not self.demand:
                raise ValueError("demand: must have at least one hour")
        if self.start_hours is not None and not self.start_hours:
            raise ValueError("start_hours: must name at least one hour")
        return self


class Start(BaseModel):
    hour: int
    at: datetime
    units: int


class HourCoverage(BaseModel):
    hour: int
    at: datetime
    demand: int
    covered: int
    violations: float | None = Field(
        default=None, description="units the violation load asks for (history-based demand only)"
    )
    accidents: float | None = Field(
        default=None, description="units the accident risk asks for (history-based demand only)"
    )


class PlanOut(BaseModel):
    id: str
    admin_code: str
    start_date: date
    hours: int
    shift_hours: int
    status: str
    demand_source: str
    unit_hours: int
    starts: list[Start]
    coverage: list[HourCoverage]
    uncovered_hours: list[int]
    shortfall_unit_hours: int
    solve_ms: float
    plot_url: str
    created_at: datetime
    applied_at: datetime | None


class ApplyResult(BaseModel):
    plan_id: str
    rosters_created: int
    roster_ids: list[int]
    unfilled: list[Start]
