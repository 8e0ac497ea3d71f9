from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from qzx_dispatch.supervision.models import CredentialEvent


class CredentialEventOut(BaseModel):
    id: str
    kind: Literal["two_devices", "off_roster"]
    officer_id: str
    role: str
    unit_id: str | None
    device_id: str | None
    other_device_id: str | None
    action: str
    admin_code: str
    at: datetime


def event_out(row: CredentialEvent) -> CredentialEventOut:
    return CredentialEventOut.model_validate(row, from_attributes=True)


class CredentialEventList(BaseModel):
    items: list[CredentialEventOut]
    next_cursor: str | None
