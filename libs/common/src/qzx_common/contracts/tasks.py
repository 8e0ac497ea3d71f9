"""Task: what dispatch publishes on ``dispatch.tasks.v1`` (key: task id) and serves to patrol apps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from qzx_common.contracts.alerts import Priority


class TaskStatus(StrEnum):
    assigned = "assigned"
    signed = "signed"
    en_route = "en_route"
    on_scene = "on_scene"
    resolved = "resolved"
    reassigned = "reassigned"
    cancelled = "cancelled"


class Outcome(StrEnum):
    intercepted = "intercepted"
    ticketed = "ticketed"
    warned = "warned"
    not_found = "not_found"
    false_alarm = "false_alarm"


class Target(BaseModel):
    lat: float
    lon: float
    admin_code: str


class InterceptPoint(BaseModel):
    lat: float
    lon: float
    device_id: str | None = None
    eta_s: float | None = None


class Task(BaseModel):
    id: str
    alert_id: str
    unit_id: str
    status: TaskStatus
    priority: Priority
    target: Target
    intercept_point: InterceptPoint | None = None
    summary: str
    sign_by: datetime | None = None
    version: int
    outcome: Outcome | None = None
    # Extensions beyond the contract's fields.
    note: str | None = None
    feedback_by: datetime | None = None
    escalated: bool = False
    updated_at: datetime | None = None
    created_at: datetime | None = None
    # Reassignment chain: the task this one replaces, and why the last change happened.
    previous_task_id: str | None = None
    reason: str | None = None
    # True when the task needs a sworn officer (auxiliaries never enforce alone).
    enforcement: bool | None = None


ACTIVE_STATUSES = frozenset(
    {TaskStatus.assigned, TaskStatus.signed, TaskStatus.en_route, TaskStatus.on_scene}
)
