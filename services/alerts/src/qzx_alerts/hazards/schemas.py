from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN

RiskLevel = Literal["low", "medium", "high"]
HazardStatus = Literal["stock", "new"]
# The rectification workflow's states (docs/design.md §hazards); reports count hazards by these names.
HazardState = Literal["identified", "assigned", "rectifying", "rectified", "verified", "reopened"]
HazardType = Literal[
    "junction",
    "curve",
    "level_crossing",
    "road_market",
    "school_zone",
    "steep_slope",
    "village_entrance",
    "poor_visibility",
    "missing_facilities",
    "other",
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(max_length=1000)]
Lat = Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX)]
Lon = Annotated[float, Field(ge=LON_MIN, le=LON_MAX)]
Radius = Annotated[float, Field(ge=10, le=5000, description="metres")]
AdminCode = Annotated[str, StringConstraints(pattern=r"^37[0-9]{4}$")]
# The level that must act: a county (6 digits), township (9) or village (12) of the province.
OwnerCode = Annotated[str, StringConstraints(pattern=r"^37[0-9]{4}(?:[0-9]{3}){0,2}$")]
Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
EvidenceUri = Annotated[AnyUrl, Field(description="A photo, document or record showing the step")]


class HazardIn(BaseModel):
    """A hazard point: dangerous junction or road section. ``stock`` hazards are known and tracked,
    ``new`` ones were found this period and not yet engineered away."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    lat: Lat
    lon: Lon
    radius_m: Radius = 300
    risk_level: RiskLevel
    status: HazardStatus = "new"
    admin_code: AdminCode
    note: Note | None = None
    hazard_type: HazardType = "other"


class HazardPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    radius_m: Radius | None = None
    risk_level: RiskLevel | None = None
    status: HazardStatus | None = None
    admin_code: AdminCode | None = None
    note: Note | None = None
    hazard_type: HazardType | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        """Leaving a field out keeps it; only ``note`` may be cleared with null."""
        for name in sorted(self.model_fields_set - {"note"}):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: may be left out but not set to null")
        return self


class Hazard(HazardIn):
    model_config = ConfigDict(from_attributes=True)

    id: str
    state: HazardState
    owner_code: str = Field(description="The county, township or village that must act (its admin code)")
    owner_name: str | None = Field(description="That division's official name")
    responsible_body: str | None
    responsible_person: str | None
    deadline: datetime | None
    state_changed_at: datetime
    rectified_at: datetime | None = Field(description="When the owner reported it rectified")
    escalated_at: datetime | None = Field(description="When the overdue check put it under supervision")
    supervised_by: str | None = Field(description="The level above the owner that supervises (挂牌督办)")
    created_by: str
    created_at: datetime
    updated_at: datetime


class HazardList(BaseModel):
    items: list[Hazard]
    next_cursor: str | None


class Step(BaseModel):
    """What every transition carries: why, and what shows it (photos, documents)."""

    model_config = ConfigDict(extra="forbid")

    note: Note | None = None
    evidence: list[EvidenceUri] = Field(default_factory=list, max_length=20)


class Assignment(Step):
    """Who must rectify, by when: a body and a named person at the county, township or village."""

    owner_code: OwnerCode
    responsible_body: Name
    responsible_person: Person
    deadline: AwareDatetime


class Reopening(Step):
    note: Note = Field(min_length=1, description="Why the rectification did not hold")


class HazardEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    from_state: HazardState | None
    to_state: HazardState
    actor: str
    note: str | None
    evidence: list[str]
    detail: dict[str, object]
    at: datetime


class HazardHistory(BaseModel):
    hazard_id: str
    items: list[HazardEvent]


class Division(BaseModel):
    code: str
    name: str
    level: Literal["province", "city", "county", "township", "village"]


class DivisionList(BaseModel):
    parent: Division
    items: list[Division]
