from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_ingest.db import Base


class ViolationRow(Base):
    """One accepted event, stored once (``event_id`` is the natural key)."""

    __tablename__ = "violations"

    # Identifiers compare byte by byte ("C"): cheaper index upkeep, prefix LIKE uses the index.
    event_id: Mapped[str] = mapped_column(String(128, collation="C"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64))
    violation: Mapped[str] = mapped_column(String(32, collation="C"))
    plate: Mapped[str | None] = mapped_column(String(16, collation="C"))
    admin_code: Mapped[str] = mapped_column(String(6, collation="C"))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_violations_captured", "captured_at", "event_id"),
        Index(
            "ix_violations_plate_captured", "plate", "captured_at", postgresql_where=text("plate IS NOT NULL")
        ),
        Index("ix_violations_admin_captured", "admin_code", "captured_at"),
        Index("ix_violations_violation_captured", "violation", "captured_at"),
    )
