"""The unit status board: every unit of a jurisdiction, on duty or not, and what it is doing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_dispatch.org import repository
from qzx_dispatch.org.models import Unit
from qzx_dispatch.org.schemas import Board, BoardEntry, BoardTask, LiveLocation
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.repository import ACTIVE


async def board(session: AsyncSession, *, prefix: str, now: datetime) -> Board:
    units = list(
        (
            await session.scalars(select(Unit).where(Unit.admin_code.startswith(prefix)).order_by(Unit.id))
        ).all()
    )
    ids = [u.id for u in units]
    shifts = await repository.current_rosters(session, unit_ids=ids, now=now)
    where = await repository.locations(session, ids)
    active = (
        {
            t.unit_id: t
            for t in await session.scalars(
                select(TaskRow).where(TaskRow.unit_id.in_(ids), TaskRow.status.in_(ACTIVE))
            )
        }
        if ids
        else {}
    )
    entries = []
    for u in units:
        shift, task, loc = shifts.get(u.id), active.get(u.id), where.get(u.id)
        state = (
            "busy"
            if task
            else "off_duty"
            if shift is None
            else "unavailable"
            if u.status != "available"
            else "available"
        )
        entries.append(
            BoardEntry(
                unit_id=u.id,
                call_sign=u.call_sign,
                admin_code=u.admin_code,
                vehicle=u.vehicle,
                capabilities=list(u.capabilities),
                state=state,
                has_sworn=bool(shift and shift.has_sworn),
                on_shift_until=shift.ends_at if shift else None,
                task=BoardTask(
                    id=task.id,
                    status=task.status,
                    priority=task.priority,
                    sign_by=task.sign_by,
                    escalated=task.escalated,
                )
                if task
                else None,
                location=LiveLocation(lat=loc.lat, lon=loc.lon, at=loc.at) if loc else None,
            )
        )
    return Board(at=now, counts=dict(Counter(e.state for e in entries)), units=entries)
