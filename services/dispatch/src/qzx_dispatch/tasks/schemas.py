from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from qzx_common.contracts.tasks import InterceptPoint, Target, Task
from qzx_dispatch.tasks.models import TaskEvent, TaskRow

# The row's columns are the contract's fields, but for the target (``target_<field>`` columns)
# and the intercept point (one JSON column).
_NESTED = ("target", "intercept_point")


def _fields(row: TaskRow, model: type[Task]) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in model.model_fields if name not in _NESTED}
    values["target"] = Target(**{f: getattr(row, f"target_{f}") for f in Target.model_fields})
    values["intercept_point"] = InterceptPoint(**row.intercept_point) if row.intercept_point else None
    return values


def to_contract(row: TaskRow) -> Task:
    return Task(**_fields(row, Task))


class TaskDetail(Task):
    """A task as the dispatcher sees it: the contract plus why this unit was chosen."""

    reasons: dict[str, Any]
    alert_version: int
    signed_at: datetime | None = None
    resolved_at: datetime | None = None


def to_detail(row: TaskRow) -> TaskDetail:
    return TaskDetail(**_fields(row, TaskDetail))


class TaskList(BaseModel):
    items: list[Task]
    next_cursor: str | None


class ReassignRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=500)
    unit_id: str | None = Field(default=None, max_length=64, description="a chosen unit; else the next best")


class ReassignResult(BaseModel):
    previous: Task
    task: Task


class TaskEventOut(BaseModel):
    """A task event: ``preempted`` (this task's unit was taken; ``detail.by_task_id``), ``preempting``
    (this task took a busy unit; ``detail.displaced_task_id``), ``requeued`` (the alert went back to
    the pending queue), or an escalation (``p1_waiting``, ``sign_missed``, ``feedback_missed``)."""

    id: str
    kind: str
    alert_id: str
    task_id: str | None
    priority: str
    reason: str
    detail: dict[str, Any]
    admin_code: str
    at: datetime


def event_out(row: TaskEvent) -> TaskEventOut:
    return TaskEventOut.model_validate(row, from_attributes=True)


class TaskEventList(BaseModel):
    items: list[TaskEventOut]


class TaskEventPage(BaseModel):
    items: list[TaskEventOut]
    next_cursor: str | None
