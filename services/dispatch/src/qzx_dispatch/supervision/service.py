"""Shared-credential detection on every patrol action (before the action runs, in a transaction of
its own, so that what is seen is kept when the action itself is refused)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.web.auth import Principal
from qzx_dispatch.org.models import Unit
from qzx_dispatch.patrol.service import crew_kind
from qzx_dispatch.supervision import repository
from qzx_dispatch.supervision.models import CredentialEvent


async def observe(
    session: AsyncSession,
    *,
    principal: Principal,
    device_id: str | None,
    action: str,
    now: datetime,
    window: timedelta,
) -> list[CredentialEvent]:
    """Record the signs of a shared credential this action shows: the person is on no crew of the
    token's unit (``off_roster``), or acts from ``device_id`` while another device of theirs acted
    less than ``window`` ago (``two_devices``). Returns what was recorded."""
    unit = await session.get(Unit, principal.unit_id) if principal.unit_id is not None else None
    seen: list[tuple[str, str | None]] = []
    if await crew_kind(session, principal=principal, now=now) is None:
        seen.append(("off_roster", None))
    if device_id is not None:
        prior = await repository.swap_device(
            session, officer_id=principal.sub, device_id=device_id, unit_id=principal.unit_id, now=now
        )
        if prior is not None and prior[0] != device_id and now - prior[1] < window:
            seen.append(("two_devices", prior[0]))
    events = [
        CredentialEvent(
            id="C" + uuid.uuid4().hex,
            kind=kind,
            officer_id=principal.sub,
            role=principal.role.value,
            unit_id=principal.unit_id,
            device_id=device_id,
            other_device_id=other,
            action=action[:200],
            admin_code=unit.admin_code if unit is not None else principal.jur,
            at=now,
        )
        for kind, other in seen
    ]
    session.add_all(events)
    return events
