"""``ingest.passages``: partitioned by day in migration ingest_0006 (which holds the DDL and the
reasons); this mapping is for reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from qzx_ingest.db import Base


class PassageRow(Base):
    """One checkpoint read, stored once per (captured_at, passage_id)."""

    __tablename__ = "passages"
    __table_args__ = ({"postgresql_partition_by": "RANGE (captured_at)"},)

    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    passage_id: Mapped[str] = mapped_column(String(128, collation="C"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64, collation="C"))
    plate: Mapped[str | None] = mapped_column(String(16, collation="C"))
    plate_color: Mapped[str | None] = mapped_column(String(16))
    vehicle_class: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(8))
    lane: Mapped[int | None] = mapped_column(SmallInteger)
    speed_kmh: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    admin_code: Mapped[str] = mapped_column(String(6, collation="C"))
    road: Mapped[str | None] = mapped_column(String(64))
    km: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    image_uri: Mapped[str | None] = mapped_column(String(1024))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
