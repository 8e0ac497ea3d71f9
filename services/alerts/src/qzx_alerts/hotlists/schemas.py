from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from qzx_common.contracts.alerts import Priority
from qzx_common.contracts.events import PLATE_RE, PlateColor


class HotlistIn(BaseModel):
    """A plate to watch for. Entries merge by (source, owner, plate): posting again updates the
    entry. The source is the server's to set (``console``, ``exchange:<key id>``), never the body's."""

    model_config = ConfigDict(extra="forbid")

    plate: str
    plate_color: PlateColor | None = Field(
        default=None, description="only this colour of the plate (none: any)"
    )
    priority: Priority = Field(default=Priority.P2, description="lowest priority of any alert on this plate")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
    covert: bool = Field(default=False, description="reason and source are shown to commanders only")
    expires_at: AwareDatetime | None = None
    admin_code: Annotated[str, StringConstraints(pattern=r"^37\d{4}$")] | None = Field(
        default=None,
        description="owning jurisdiction (defaults to the caller's); the entry applies to alerts there only",
    )

    @field_validator("plate", mode="before")
    @classmethod
    def _normalise(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().upper().replace(" ", "").replace("·", "").replace("-", "")
        return value

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str) -> str:
        if not PLATE_RE.match(value):
            raise ValueError("not a valid plate (province character + letter + 5 or 6 characters)")
        return value


class HotlistEntry(BaseModel):
    id: str
    plate: str
    plate_color: str | None = None
    priority: Priority
    covert: bool
    admin_code: str
    expires_at: datetime | None
    active: bool
    created_at: datetime
    updated_at: datetime
    # Withheld (null) on covert entries for everyone but commanders.
    reason: str | None
    source: str | None
    created_by: str | None


class HotlistList(BaseModel):
    items: list[HotlistEntry]
    next_cursor: str | None
