from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qzx_alerts.db import Base


class RunRow(Base):
    """One black-spot analysis of a jurisdiction and period, run in the background."""

    __tablename__ = "blackspot_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_prefix: Mapped[str] = mapped_column(String(12))
    period_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    period_to: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    accidents: Mapped[int | None] = mapped_column(Integer)
    violation_cells: Mapped[int | None] = mapped_column(Integer)
    proposals: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProposalRow(Base):
    """A black spot the analysis proposes: a new hazard (增量) or evidence for a known one (存量,
    ``hazard_id``), until a person confirms or rejects it."""

    __tablename__ = "blackspot_proposals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    admin_code: Mapped[str] = mapped_column(String(6))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[float] = mapped_column(Float)
    accidents: Mapped[int] = mapped_column(Integer)
    injured: Mapped[int] = mapped_column(Integer)
    killed: Mapped[int] = mapped_column(Integer)
    violations: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accident_ids: Mapped[list[str]] = mapped_column(JSONB)
    ledger: Mapped[str] = mapped_column(String(8))
    hazard_id: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(12), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
