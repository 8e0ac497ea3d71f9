from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_dispatch.db import Base

ACTIVE_SQL = "status IN ('assigned', 'signed', 'en_route', 'on_scene')"


class AlertRecord(Base):
    """Every alert seen on alerts.v1 (latest version): the intake queue and the demand history."""

    __tablename__ = "alerts"

    alert_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(32))
    violations: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    admin_code: Mapped[str] = mapped_column(String(12))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # pending: needs a unit and has none yet; handled: a task exists; closed: nothing more to do.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_reason: Mapped[str | None] = mapped_column(Text)
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Put back in the queue (its unit pre-empted) at: tasks older than this no longer handle it.
    requeued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When its wait as a P1 was escalated (once per wait).
    wait_escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_alerts_admin_first_seen", "admin_code", "first_seen"),
        Index("ix_alerts_pending", "next_try_at", postgresql_where=text("state = 'pending'")),
    )


class TaskRow(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(128))
    alert_version: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(2))
    target_lat: Mapped[float] = mapped_column(Float)
    target_lon: Mapped[float] = mapped_column(Float)
    target_admin_code: Mapped[str] = mapped_column(String(12))
    intercept_point: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    summary: Mapped[str] = mapped_column(Text)
    enforcement: Mapped[bool] = mapped_column(Boolean)
    sign_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    feedback_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    feedback_deadline_s: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Why this unit: the chosen unit's figures, the runners-up and why they lost.
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB)
    previous_task_id: Mapped[str | None] = mapped_column(String(40))
    # The admin code of the unit lent under mutual aid (another city's): that city sees the task too.
    aid_admin_code: Mapped[str | None] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    # The unit's change cursor at this task's latest change (what the patrol long-poll pages on).
    unit_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # The guarantee: no unit ever holds two active tasks, no alert has two active tasks.
        Index("uq_tasks_active_unit", "unit_id", unique=True, postgresql_where=text(ACTIVE_SQL)),
        Index("uq_tasks_active_alert", "alert_id", unique=True, postgresql_where=text(ACTIVE_SQL)),
        Index("ix_tasks_unit_seq", "unit_id", "unit_seq"),
        Index("ix_tasks_unit_created", "unit_id", "created_at"),
        Index("ix_tasks_created", "created_at", "id"),
        Index("ix_tasks_alert", "alert_id"),
        Index("ix_tasks_sign_by", "sign_by", postgresql_where=text("status = 'assigned'")),
        Index(
            "ix_tasks_feedback_by",
            "feedback_by",
            postgresql_where=text("status IN ('signed', 'en_route', 'on_scene') AND NOT escalated"),
        ),
    )


class TaskEvent(Base):
    """What happened to an alert's dispatch besides a task's own changes: a pre-emption (on both
    tasks), a re-queued alert, an escalation. Read by ``GET /v1/tasks/{id}/events``."""

    __tablename__ = "task_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    alert_id: Mapped[str] = mapped_column(String(128))
    task_id: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    admin_code: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_task_events_task", "task_id", "at"),
        Index("ix_task_events_at", "at", "id"),
    )
