from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from qzx_alerts.db import Base


class HotlistRow(Base):
    """A plate wanted by someone (``source``: a unit, the province, the ministry exchange)."""

    __tablename__ = "hotlists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plate: Mapped[str] = mapped_column(String(16), index=True)
    plate_color: Mapped[str | None] = mapped_column(String(16))  # None: any colour
    priority: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    covert: Mapped[bool] = mapped_column(Boolean, server_default="false")
    admin_code: Mapped[str] = mapped_column(String(6))  # who owns the entry (370000: province)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (UniqueConstraint("source", "admin_code", "plate"),)


class HotlistChangeRow(Base):
    """The id of every entry inserted, updated or deleted, appended by a trigger (alerts_0011)."""

    __tablename__ = "hotlist_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
