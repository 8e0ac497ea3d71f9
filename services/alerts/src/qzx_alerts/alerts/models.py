from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_alerts.db import Base
from qzx_common.contracts.events import Violation

_RECENT = ("last_seen", "id", "status", "priority", "city_code", "admin_code")


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    dedup_key: Mapped[str] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(16), server_default="new")
    priority: Mapped[str] = mapped_column(String(2))
    score: Mapped[float] = mapped_column(Float)
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    violations: Mapped[list[str]] = mapped_column(ARRAY(Text))
    plate: Mapped[str | None] = mapped_column(String(16))
    plates: Mapped[list[str]] = mapped_column(ARRAY(Text))
    admin_code: Mapped[str] = mapped_column(String(6))
    city_code: Mapped[str] = mapped_column(String(4))  # first four digits: the city filter's index
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    road: Mapped[str | None] = mapped_column(String(64))
    km: Mapped[float | None] = mapped_column(Float)
    device_id: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    count: Mapped[int] = mapped_column(Integer)
    event_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    rules_version: Mapped[str] = mapped_column(String(32))
    sign_deadline_s: Mapped[int | None] = mapped_column(Integer)
    feedback_deadline_s: Mapped[int | None] = mapped_column(Integer)
    # Lifecycle (driven by dispatch.tasks.v1 and dismissals).
    task_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dismissed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dismiss_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # Why these (and no others): migrations/versions/0004_read_write_indexes.py.
    __table_args__ = (
        Index("ix_alerts_dedup_key_last_seen", "dedup_key", "last_seen"),
        Index("ix_alerts_recent", *_RECENT),
        Index("ix_alerts_status_recent", "status", "last_seen", "id", "priority", "city_code", "admin_code"),
        Index("ix_alerts_city_recent", "city_code", "last_seen", "id", "admin_code", "status", "priority"),
        *(
            Index(
                f"ix_alerts_recent_{v}",
                *_RECENT,
                postgresql_where=text(f"violations @> ARRAY['{v}']::text[]"),
            )
            for v in Violation
        ),
        *(
            Index(f"ix_alerts_recent_{k}", *_RECENT, postgresql_where=text(f"kind = '{k}'"))
            for k in ("plate_fraud", "racing_group", "hotlist_hit")
        ),
        Index("ix_alerts_first_seen", "first_seen", postgresql_using="brin"),
    )


class AlertTaskRow(Base):
    """The latest known state of each dispatch task (highest ``version`` wins), per alert."""

    __tablename__ = "alert_tasks"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64), index=True)
    unit_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[bool] = mapped_column(server_default="false")
    outcome: Mapped[str | None] = mapped_column(String(16))
    # First time each stage was reported (from any version: these are facts, whatever the order).
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AlertChangeRow(Base):
    """Every published alert state, in commit order: the SSE stream's resumable log, and alerts.v1's
    outbox (``LogCursorRow``)."""

    __tablename__ = "alert_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(64))
    admin_code: Mapped[str] = mapped_column(String(6))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_alert_changes_at", "at", postgresql_using="brin"),)


class LogCursorRow(Base):
    """How far a log table has been published (qzx_common.kafka.logrelay): the last id acknowledged."""

    __tablename__ = "log_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
