from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from qzx_alerts.db import Base


class AccidentFactRow(Base):
    """alerts' own copy of each accepted accident's countable facts, property-only ones included
    (the reports count them; black-spot analysis needs their points). Never read ingest's schema."""

    __tablename__ = "accident_facts"

    accident_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    admin_code: Mapped[str] = mapped_column(String(6))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    road: Mapped[str | None] = mapped_column(String(64))
    road_feature: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    injured: Mapped[int] = mapped_column(Integer)
    killed: Mapped[int] = mapped_column(Integer)
    ebike_involved: Mapped[bool] = mapped_column(Boolean)
    rural: Mapped[bool] = mapped_column(Boolean)
