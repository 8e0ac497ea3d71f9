from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qzx_common.contracts.tasks import Task
from qzx_dispatch.aid.models import MutualAid


class AidProposal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: str = Field(min_length=1, max_length=128)
    unit_id: str = Field(min_length=1, max_length=64, description="a unit of a neighbouring city")
    reason: str = Field(min_length=3, max_length=500)


class AidDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)


class AidOut(BaseModel):
    id: str
    alert_id: str
    unit_id: str
    alert_admin_code: str
    unit_admin_code: str
    state: Literal["proposed", "accepted", "declined"]
    reason: str
    proposed_by: str
    decided_by: str | None
    decision_reason: str | None
    task_id: str | None
    created_at: datetime
    decided_at: datetime | None


def aid_out(row: MutualAid) -> AidOut:
    return AidOut.model_validate(row, from_attributes=True)


class AidList(BaseModel):
    items: list[AidOut]
    next_cursor: str | None


class AidAccepted(BaseModel):
    aid: AidOut
    task: Task
