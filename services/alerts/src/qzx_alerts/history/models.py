from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_alerts.db import Base


class SightingRow(Base):
    """alerts' own copy of what it needs of each accepted event (never read ingest's schema)."""

    __tablename__ = "sightings"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    plate: Mapped[str | None] = mapped_column(String(16))
    violation: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    admin_code: Mapped[str] = mapped_column(String(6))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    group_key: Mapped[str | None] = mapped_column(String(96))  # racing-class events only
    vehicle_class: Mapped[str | None] = mapped_column(String(16))
    measurements: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_sightings_plate_captured_at", "plate", "captured_at"),
        Index("ix_sightings_captured_at", "captured_at", postgresql_using="brin"),
        Index(
            "ix_sightings_group_key_captured_at",
            "group_key",
            "captured_at",
            postgresql_where=text("group_key IS NOT NULL"),
        ),
    )


class DeviceTravelRow(Base):
    """Fastest plausible passage observed between two devices (unordered pair: device_a < device_b)."""

    __tablename__ = "device_travel"

    device_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    min_s: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)


class PassageSightingRow(Base):
    """alerts' own copy of each passage a finding links to (hotlist hits, plate fraud from
    passages): what the alert detail shows of it (never read ingest's schema). Only passages that
    raised something are kept, not every passage."""

    __tablename__ = "passage_sightings"

    passage_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    plate: Mapped[str | None] = mapped_column(String(16))
    device_id: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    admin_code: Mapped[str] = mapped_column(String(6))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    road: Mapped[str | None] = mapped_column(String(64))
    km: Mapped[float | None] = mapped_column(Float)
