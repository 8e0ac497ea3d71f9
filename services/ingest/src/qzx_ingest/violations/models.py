from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_ingest.db import Base


class ViolationRow(Base):
    """One accepted event, stored once (``event_id`` is the natural key)."""

    __tablename__ = "violations"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    violation: Mapped[str] = mapped_column(String(32))
    plate: Mapped[str | None] = mapped_column(String(16))
    admin_code: Mapped[str] = mapped_column(String(6))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_violations_captured", "captured_at", "event_id"),
        Index("ix_violations_plate_captured", "plate", "captured_at"),
        Index("ix_violations_admin_captured", "admin_code", "captured_at"),
        Index("ix_violations_violation_captured", "violation", "captured_at"),
    )
