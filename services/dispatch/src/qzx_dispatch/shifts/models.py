from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_dispatch.db import Base


class ShiftPlan(Base):
    __tablename__ = "shift_plans"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    admin_code: Mapped[str] = mapped_column(String(12), index=True)
    created_by: Mapped[str] = mapped_column(String(128))
    request: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccidentFact(Base):
    """What the demand's accident layer needs of each accepted accident (accidents.accepted.v1)."""

    __tablename__ = "accident_facts"

    accident_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    admin_code: Mapped[str] = mapped_column(String(6))
    severity: Mapped[str] = mapped_column(String(16))
    road_feature: Mapped[str] = mapped_column(String(16))
    rural: Mapped[bool] = mapped_column(Boolean)
