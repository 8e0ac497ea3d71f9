from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from qzx_alerts.hazards.schemas import HazardType, Name, Note, RiskLevel

RunStatus = Literal["queued", "running", "done", "failed"]
Ledger = Literal["new", "stock"]  # 增量: not in the ledger; 存量: a known hazard gains evidence
Decision = Literal["pending", "confirmed", "rejected"]
# Longest period one analysis covers: a year and its leap day.
MAX_PERIOD_DAYS = 366


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin_code: Annotated[str, StringConstraints(pattern=r"^37(?:[0-9]{2}){0,2}$")] = Field(
        description="The province, a city or a county (accident facts are kept per county)"
    )
    since: AwareDatetime
    until: AwareDatetime
    eps_m: float = Field(default=150.0, ge=20, le=1000, description="DBSCAN radius, metres")
    min_accidents: int = Field(default=3, ge=2, le=100, description="DBSCAN min_samples (weighted)")
    min_days: int = Field(default=2, ge=1, le=366, description="Distinct days a black spot's accidents span")

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        if (self.until - self.since).days > MAX_PERIOD_DAYS:
            raise ValueError(f"a period of at most {MAX_PERIOD_DAYS} days")
        return self


class Run(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    admin_prefix: str
    period_from: datetime
    period_to: datetime
    status: RunStatus
    progress: float = Field(description="0 to 1")
    stage: str | None
    params: dict[str, object]
    error: str | None
    accidents: int | None
    violation_cells: int | None
    proposals: int | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None


class Proposal(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    run_id: str
    admin_code: str
    lat: float
    lon: float
    radius_m: float
    accidents: int
    injured: int
    killed: int
    violations: int
    first_at: datetime
    last_at: datetime
    accident_ids: list[str]
    ledger: Ledger
    hazard_id: str | None
    decision: Decision
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class ProposalList(BaseModel):
    items: list[Proposal]
    next_cursor: str | None


class Confirmation(BaseModel):
    """A new black spot becomes a hazard (``identified``): name it; a known one gains evidence."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    risk_level: RiskLevel = "high"
    hazard_type: HazardType = "other"
    note: Note | None = None


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = Field(min_length=1, description="Why this is no black spot")


class Decided(BaseModel):
    proposal: Proposal
    hazard_id: str | None
