from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN
from qzx_dispatch.tasks.rules import CAPABILITIES

Ident = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\w.\-]+$")]
AdminCode = Annotated[str, StringConstraints(pattern=r"^37\d{4}(\d{1,6})?$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Skill = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Capability = Literal["breathalyser", "weighing", "pursuit", "interception", "ebike"]
Vehicle = Literal["car", "motorcycle", "checkpoint_post"]
UnitStatus = Literal["available", "unavailable"]
assert set(CAPABILITIES) == set(Capability.__args__)  # type: ignore[attr-defined]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JurisdictionIn(Strict):
    code: AdminCode
    name: Name
    level: Literal["district", "squadron"]
    parent_code: AdminCode
    lat: float | None = Field(default=None, ge=LAT_MIN, le=LAT_MAX)
    lon: float | None = Field(default=None, ge=LON_MIN, le=LON_MAX)


class JurisdictionOut(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    lat: float | None
    lon: float | None


class OfficerIn(Strict):
    id: Ident | None = None
    name: Name
    kind: Literal["sworn", "auxiliary"]
    admin_code: AdminCode
    skills: list[Skill] = Field(default_factory=list, max_length=20)
    bound_to: Ident | None = Field(default=None, description="the sworn officer an auxiliary works under")


class OfficerPatch(Strict):
    name: Name | None = None
    skills: list[Skill] | None = Field(default=None, max_length=20)
    bound_to: Ident | None = None
    active: bool | None = None


class OfficerOut(BaseModel):
    id: str
    name: str
    kind: str
    admin_code: str
    skills: list[str]
    bound_to: str | None
    active: bool


class Position(Strict):
    lat: float = Field(ge=LAT_MIN, le=LAT_MAX)
    lon: float = Field(ge=LON_MIN, le=LON_MAX)


def _unique(values: list[str] | None) -> list[str] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("must not repeat an entry")
    return values


class UnitIn(Strict):
    id: Ident | None = None
    call_sign: Name
    admin_code: AdminCode
    vehicle: Vehicle
    capabilities: list[Capability] = Field(default_factory=list)
    home: Position
    members: list[Ident] = Field(default_factory=list, max_length=8)
    status: UnitStatus = "available"

    _uniq = field_validator("capabilities", "members")(_unique)


class UnitPatch(Strict):
    call_sign: Name | None = None
    capabilities: list[Capability] | None = None
    home: Position | None = None
    members: list[Ident] | None = Field(default=None, max_length=8)
    status: UnitStatus | None = None

    _uniq = field_validator("capabilities", "members")(_unique)


class Member(BaseModel):
    id: str
    kind: str


class LiveLocation(BaseModel):
    lat: float
    lon: float
    at: datetime


class UnitOut(BaseModel):
    id: str
    call_sign: str
    admin_code: str
    city_code: str
    vehicle: str
    capabilities: list[str]
    home: Position
    members: list[Member]
    auxiliary_only: bool
    status: str
    location: LiveLocation | None


class RosterIn(Strict):
    unit_id: Ident
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    crew: list[Ident] | None = Field(default=None, max_length=8, description="default: the unit's members")
    shift_date: date | None = Field(default=None, description="default: the local (UTC+8) date of starts_at")

    _uniq = field_validator("crew")(_unique)


class RosterOut(BaseModel):
    id: int
    unit_id: str
    shift_date: date
    starts_at: datetime
    ends_at: datetime
    crew: list[str]
    has_sworn: bool
    source: str


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class BoardTask(BaseModel):
    id: str
    status: str
    priority: str
    sign_by: datetime
    escalated: bool


class BoardEntry(BaseModel):
    unit_id: str
    call_sign: str
    admin_code: str
    vehicle: str
    capabilities: list[str]
    state: Literal["off_duty", "available", "busy", "unavailable"]
    has_sworn: bool
    on_shift_until: datetime | None
    task: BoardTask | None
    location: LiveLocation | None


class Board(BaseModel):
    at: datetime
    counts: dict[str, int]
    units: list[BoardEntry]
