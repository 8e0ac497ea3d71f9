from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN

RiskLevel = Literal["low", "medium", "high"]
HazardStatus = Literal["stock", "new"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(max_length=1000)]
Lat = Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX)]
Lon = Annotated[float, Field(ge=LON_MIN, le=LON_MAX)]
Radius = Annotated[float, Field(ge=10, le=5000, description="metres")]
AdminCode = Annotated[str, StringConstraints(pattern=r"^37\d{4}$")]


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
    created_by: str
    created_at: datetime
    updated_at: datetime


class HazardList(BaseModel):
    items: list[Hazard]
    next_cursor: str | None
