from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.db import before_key
from qzx_dispatch.supervision.models import CredentialEvent, PatrolDevice


async def swap_device(
    session: AsyncSession, *, officer_id: str, device_id: str, unit_id: str | None, now: datetime
) -> tuple[str, datetime] | None:
    """Record ``device_id`` as the officer's current device; returns the previous one and when it
    was last used (None on the officer's first action), read under the row lock."""
    prior = (
        await session.execute(
            select(PatrolDevice.device_id, PatrolDevice.last_seen)
            .where(PatrolDevice.officer_id == officer_id)
            .with_for_update()
        )
    ).first()
    stmt = insert(PatrolDevice).values(
        officer_id=officer_id, device_id=device_id, unit_id=unit_id, last_seen=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[PatrolDevice.officer_id],
            set_={"device_id": device_id, "unit_id": unit_id, "last_seen": now},
        )
    )
    return None if prior is None else (prior[0], prior[1])


async def search(
    session: AsyncSession,
    *,
    jur: str,
    kind: str | None,
    officer_id: str | None,
    since: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[CredentialEvent]:
    q = select(CredentialEvent).where(CredentialEvent.admin_code.startswith(jur, autoescape=True))
    if kind is not None:
        q = q.where(CredentialEvent.kind == kind)
    if officer_id is not None:
        q = q.where(CredentialEvent.officer_id == officer_id)
    if since is not None:
        q = q.where(CredentialEvent.at >= since)
    if after is not None:
        q = q.where(before_key((CredentialEvent.at, CredentialEvent.id), after))
    q = q.order_by(CredentialEvent.at.desc(), CredentialEvent.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
