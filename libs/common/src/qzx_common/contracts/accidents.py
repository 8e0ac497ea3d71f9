"""AccidentReport: an accident from the 122 call centre, dispatchers, patrol officers and exchanges.

As strict as the camera contract (``contracts.events``): the same plate, location and time rules,
unknown fields refused, and every refusal names its field (it goes verbatim into the dead-letter
header and the exchange's per-item errors). Severity and the casualty counts must agree.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from qzx_common.contracts.events import Location, Plate, PlateColor, VehicleClass, capture_time_problem

# A major accident (较大事故) is one with three or more deaths (docs/contract.md).
MAJOR_ACCIDENT_DEATHS = 3

AccidentId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\w.:\-]+$")]


class AccidentSource(StrEnum):
    call_centre = "call_centre"
    patrol = "patrol"
    camera = "camera"
    exchange = "exchange"


class RoadFeature(StrEnum):
    level_crossing = "level_crossing"
    road_market = "road_market"
    junction = "junction"
    curve = "curve"
    school_zone = "school_zone"
    straight = "straight"
    other = "other"


class Severity(StrEnum):
    property_only = "property_only"
    injury = "injury"
    fatal = "fatal"


class AccidentVehicle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: Plate = None  # null: an e-bike, a vehicle that fled, a plate nobody read
    plate_color: PlateColor | None = None
    vehicle_class: VehicleClass | None = None


class AccidentReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accident_id: AccidentId
    occurred_at: AwareDatetime
    reported_at: AwareDatetime | None = None
    source: AccidentSource | None = None
    location: Location
    road_feature: RoadFeature
    severity: Severity
    injured: int = Field(default=0, ge=0, le=1000)
    killed: int = Field(default=0, ge=0, le=1000)
    vehicles: list[AccidentVehicle] = Field(default_factory=list, max_length=50)
    ebike_involved: bool = False
    rural: bool = False
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @property
    def major(self) -> bool:
        return self.killed >= MAJOR_ACCIDENT_DEATHS

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        if problem := capture_time_problem(self.occurred_at, "occurred_at"):
            raise ValueError(problem)
        if self.reported_at is not None:
            if problem := capture_time_problem(self.reported_at, "reported_at"):
                raise ValueError(problem)
            if self.reported_at < self.occurred_at:
                raise ValueError("reported_at: before occurred_at")
        if problem := _severity_problem(self.severity, injured=self.injured, killed=self.killed):
            raise ValueError(problem)
        if self.plate_color_without_plate():
            raise ValueError("vehicles: plate_color needs a plate")
        if not self.ebike_involved and any(v.vehicle_class == VehicleClass.ebike for v in self.vehicles):
            raise ValueError("ebike_involved: false, but a vehicle is an e-bike")
        return self

    def plate_color_without_plate(self) -> bool:
        return any(v.plate is None and v.plate_color is not None for v in self.vehicles)

    def normalised(self) -> bytes:
        """The canonical JSON stored and forwarded (nulls left out)."""
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


def _severity_problem(severity: Severity, *, injured: int, killed: int) -> str | None:
    if severity == Severity.fatal and killed == 0:
        return "killed: a fatal accident has at least one death"
    if severity != Severity.fatal and killed > 0:
        return f"severity: {severity.value} with {killed} killed (must be fatal)"
    if severity == Severity.injury and injured == 0:
        return "injured: an injury accident has at least one injured"
    if severity == Severity.property_only and injured > 0:
        return f"severity: property_only with {injured} injured (must be injury)"
    return None


def read_accident(value: bytes) -> AccidentReport:
    """Parse and check one AccidentReport (raises pydantic's ValidationError)."""
    return AccidentReport.model_validate_json(value)
