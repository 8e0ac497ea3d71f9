from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_ingest.db import Base


class AccidentRow(Base):
    """One accepted AccidentReport, stored once (``accident_id`` is the natural key); the columns
    are what the list filters on, ``payload`` the normalised report."""

    __tablename__ = "accidents"

    accident_id: Mapped[str] = mapped_column(String(128, collation="C"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    admin_code: Mapped[str] = mapped_column(String(6, collation="C"))
    severity: Mapped[str] = mapped_column(String(16, collation="C"))
    road_feature: Mapped[str] = mapped_column(String(16, collation="C"))
    injured: Mapped[int] = mapped_column(Integer)
    killed: Mapped[int] = mapped_column(Integer)
    ebike_involved: Mapped[bool] = mapped_column(Boolean)
    rural: Mapped[bool] = mapped_column(Boolean)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    # Who delivered it: "user:<sub>", "exchange:<key id>" or "topic".
    reporter: Mapped[str] = mapped_column(String(256))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_accidents_occurred", "occurred_at", "accident_id"),
        Index("ix_accidents_admin_occurred", "admin_code", "occurred_at"),
    )


class QuickCaseRow(Base):
    """A property-only accident on a main road, handled quickly (事故快处): the parties agree (or a
    unit settles it) and the road is cleared; ``clear_s`` is occurred_at to road_cleared_at."""

    __tablename__ = "accident_quick_cases"

    accident_id: Mapped[str] = mapped_column(String(128, collation="C"), primary_key=True)
    admin_code: Mapped[str] = mapped_column(String(6, collation="C"))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(8, collation="C"), server_default="open")
    outcome: Mapped[str | None] = mapped_column(String(16, collation="C"))
    road_cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    clear_s: Mapped[int | None] = mapped_column(Integer)
    closed_by: Mapped[str | None] = mapped_column(String(256))
    note: Mapped[str | None] = mapped_column(String(2000))

    __table_args__ = (Index("ix_accident_quick_cases_admin_occurred", "admin_code", "occurred_at"),)
