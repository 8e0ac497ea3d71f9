from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from qzx_common.contracts.alerts import Alert


class AlertList(BaseModel):
    items: list[Alert]
    next_cursor: str | None


class LinkedEvent(BaseModel):
    event_id: str
    plate: str | None
    violation: str
    device_id: str
    lat: float
    lon: float
    admin_code: str
    captured_at: datetime
    vehicle_class: str | None = None
    measurements: dict[str, Any] | None = None


class AlertDetail(Alert):
    events: list[LinkedEvent]


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
