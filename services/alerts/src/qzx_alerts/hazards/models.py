from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_alerts.db import Base


class HazardRow(Base):
    """The hazard ledger: a dangerous junction or road section, stock (known) or new, and where its
    rectification stands (``state``) with the owner who must act (``owner_code``: the county,
    township or village; jurisdiction scoping reads it)."""

    __tablename__ = "hazards"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    risk_level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8))
    admin_code: Mapped[str] = mapped_column(String(6), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    hazard_type: Mapped[str] = mapped_column(String(32), default="other")
    state: Mapped[str] = mapped_column(String(12), default="identified")
    owner_code: Mapped[str] = mapped_column(String(12))
    owner_name: Mapped[str | None] = mapped_column(String(200))
    responsible_body: Mapped[str | None] = mapped_column(String(200))
    responsible_person: Mapped[str | None] = mapped_column(String(100))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    supervised_by: Mapped[str | None] = mapped_column(String(12))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HazardEventRow(Base):
    """One step of a hazard's history: a transition (with its evidence) or an escalation."""

    __tablename__ = "hazard_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    hazard_id: Mapped[str] = mapped_column(String(64))  # FK with cascade in the migration
    kind: Mapped[str] = mapped_column(String(16))
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[str]] = mapped_column(JSONB, default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
