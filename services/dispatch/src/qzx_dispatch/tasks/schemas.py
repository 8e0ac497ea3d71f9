from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from qzx_common.contracts.tasks import InterceptPoint, Target, Task
from qzx_dispatch.tasks.models import TaskRow


def to_contract(row: TaskRow) -> Task:
    return Task(
        id=row.id,
        alert_id=row.alert_id,
        unit_id=row.unit_id,
        status=row.status,
        priority=row.priority,
        target=Target(lat=row.target_lat, lon=row.target_lon, admin_code=row.target_admin_code),
        intercept_point=InterceptPoint(**row.intercept_point) if row.intercept_point else None,
        summary=row.summary,
        sign_by=row.sign_by,
        version=row.version,
        outcome=row.outcome,
        note=row.note,
        feedback_by=row.feedback_by,
        escalated=row.escalated,
        updated_at=row.updated_at,
        created_at=row.created_at,
        previous_task_id=row.previous_task_id,
        reason=row.reason,
        enforcement=row.enforcement,
    )


class TaskDetail(Task):
    """A task as the dispatcher sees it: the contract plus why this unit was chosen."""

    reasons: dict[str, Any]
    alert_version: int
    signed_at: datetime | None = None
    resolved_at: datetime | None = None


def to_detail(row: TaskRow) -> TaskDetail:
    return TaskDetail(
        **to_contract(row).model_dump(),
        reasons=row.reasons,
        alert_version=row.alert_version,
        signed_at=row.signed_at,
        resolved_at=row.resolved_at,
    )


class TaskList(BaseModel):
    items: list[Task]
    next_cursor: str | None


class ReassignRequest(BaseModel):
    reason: str = Field(min_length=3, max_length=500)
    unit_id: str | None = Field(default=None, max_length=64, description="a chosen unit; else the next best")


class ReassignResult(BaseModel):
    previous: Task
    task: Task
