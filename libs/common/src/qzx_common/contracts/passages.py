"""VehiclePassage: one checkpoint read of a passing vehicle, offending or not (docs/contract.md).

As strict as the ViolationEvent contract it shares its field types with (ids, plates, location,
capture time), and its rules word their reasons the same way, naming the field
(``events.describe_error``). A passage whose plate the checkpoint could not read has ``plate``
null: it is stored (what passed a device) and never matched.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from qzx_common.contracts.events import (
    DeviceId,
    EventId,
    Location,
    Plate,
    PlateColor,
    VehicleClass,
    capture_time_problem,
)


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"
    N = "N"
    NE = "NE"
    E = "E"
    SE = "SE"
    S = "S"
    SW = "SW"
    W = "W"
    NW = "NW"


# Plausible ranges: a lane number a road has, a speed a road vehicle reaches.
LANE_RANGE = (1, 16)
SPEED_MAX_KMH = 400
IMAGE_URI_MAX = 1024


class VehiclePassage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passage_id: EventId
    device_id: DeviceId
    captured_at: AwareDatetime
    plate: Plate = None
    plate_color: PlateColor | None = None
    vehicle_class: VehicleClass | None = None
    direction: Direction | None = None
    lane: int | None = Field(default=None, ge=LANE_RANGE[0], le=LANE_RANGE[1])
    speed_kmh: float | None = Field(default=None, ge=0, le=SPEED_MAX_KMH)
    location: Location
    confidence: float | None = Field(default=None, ge=0, le=1)
    image_uri: Annotated[str, StringConstraints(min_length=1, max_length=IMAGE_URI_MAX)] | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        if problem := capture_time_problem(self.captured_at):
            raise ValueError(problem)
        if self.plate is None and self.plate_color is not None:
            raise ValueError("plate_color: given without a plate")
        return self
