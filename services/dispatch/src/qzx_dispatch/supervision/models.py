from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from qzx_dispatch.db import Base


class PatrolDevice(Base):
    """The device each officer last acted from (the patrol app's ``X-Device-Id``)."""

    __tablename__ = "patrol_devices"

    officer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CredentialEvent(Base):
    """One sign that a patrol credential is shared: ``two_devices`` (the person acted from a second
    device while the first was still in use) or ``off_roster`` (acted while on no crew of the unit)."""

    __tablename__ = "credential_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    officer_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(128))
    other_device_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(200))
    # The unit's admin code (the token's jur when the unit is unknown): who supervises it.
    admin_code: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
