from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from qzx_dispatch.db import Base


class Jurisdiction(Base):
    """Province → city → district → squadron; codes are admin-code prefixes of their children."""

    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(12))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class Officer(Base):
    __tablename__ = "officers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # sworn | auxiliary
    admin_code: Mapped[str] = mapped_column(String(12), index=True)
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    # Auxiliaries never enforce alone: each is bound to a sworn officer.
    bound_to: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(64))
    admin_code: Mapped[str] = mapped_column(String(12))
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    vehicle: Mapped[str] = mapped_column(String(16))  # car | motorcycle | checkpoint_post
    capabilities: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    home_lat: Mapped[float] = mapped_column(Float)
    home_lon: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="available")  # available | unavailable
    # The per-unit change cursor of the patrol protocol (bumped under the unit's row lock).
    change_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UnitLocation(Base):
    """The patrol app's last reported position (apart from the unit row: pings never take its lock)."""

    __tablename__ = "unit_locations"

    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UnitMember(Base):
    __tablename__ = "unit_members"

    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officers.id"), primary_key=True, index=True)


class Roster(Base):
    """One unit on one shift window, with the crew on board for it."""

    __tablename__ = "rosters"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    shift_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    crew: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    has_sworn: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(64), default="manual")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("unit_id", "starts_at"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_rosters_window", "starts_at", "ends_at"),
    )
