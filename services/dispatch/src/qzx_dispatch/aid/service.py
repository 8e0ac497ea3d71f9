"""Mutual aid between neighbouring cities (cities whose centres lie within ``neighbour_km``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, record
from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.geo import city_code
from qzx_common.db import before_key
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qzx_dispatch.aid.models import MutualAid
from qzx_dispatch.aid.schemas import aid_out
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org.models import Unit
from qzx_dispatch.org.service import audit_scope
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import repository
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.service import assign_alert, neighbour_cities


def _sees(principal: Principal, aid: MutualAid) -> bool:
    return principal.sees(aid.alert_admin_code) or principal.sees(aid.unit_admin_code)


async def _audit(
    session: AsyncSession, action: str, aid: MutualAid, before: object, *, admin_code: str, ctx: AuditContext
) -> None:
    await record(
        session,
        schema=SCHEMA,
        context=ctx,
        action=action,
        target_type="mutual_aid",
        target_id=aid.id,
        admin_code=audit_scope(admin_code),
        before=before,
        after=aid_out(aid),
    )


async def propose(
    session: AsyncSession,
    *,
    principal: Principal,
    alert_id: str,
    unit_id: str,
    reason: str,
    settings: DispatchSettings,
    now: datetime,
    audit_context: AuditContext,
) -> MutualAid:
    """By the alert's city: the unit belongs to a neighbouring city (which the proposer need not see)."""
    alert = await repository.get_alert(session, alert_id)
    if alert is None or not principal.sees(alert.admin_code):
        raise NotFound(f"no alert {alert_id!r}", code="alert_not_found")
    if alert.state == "closed":
        raise Conflict(f"alert {alert_id} is closed", code="alert_closed")
    unit = await session.get(Unit, unit_id)
    home = city_code(alert.admin_code)
    if unit is None or unit.city_code not in neighbour_cities(home, settings.neighbour_km):
        raise InvalidRequest(
            f"unit_id: no unit {unit_id!r} in a city neighbouring {home}", code="not_a_neighbour_unit"
        )
    aid = MutualAid(
        id="M" + uuid.uuid4().hex,
        alert_id=alert_id,
        unit_id=unit_id,
        alert_admin_code=alert.admin_code,
        unit_admin_code=unit.admin_code,
        state="proposed",
        reason=reason,
        proposed_by=principal.sub,
        created_at=now,
    )
    session.add(aid)
    await session.flush()
    await _audit(session, "mutual_aid.propose", aid, None, admin_code=alert.admin_code, ctx=audit_context)
    return aid


async def _decidable(session: AsyncSession, principal: Principal, aid_id: str) -> MutualAid:
    aid = await session.get(MutualAid, aid_id, with_for_update=True, populate_existing=True)
    if aid is None or not _sees(principal, aid):
        raise NotFound(f"no mutual aid proposal {aid_id!r}", code="aid_not_found")
    if not principal.sees(aid.unit_admin_code):
        raise Forbidden(
            "only a commander of the unit's city decides on lending it", code="not_the_units_city"
        )
    if aid.state != "proposed":
        raise Conflict(f"the proposal is already {aid.state}", code="aid_decided")
    return aid


async def accept(
    session: AsyncSession,
    *,
    principal: Principal,
    aid_id: str,
    reason: str,
    settings: DispatchSettings,
    now: datetime,
    audit_context: AuditContext,
) -> tuple[MutualAid, TaskRow]:
    """A commander of the unit's city lends it: the alert's task is made for that unit, and the
    task is seen by both cities."""
    aid = await _decidable(session, principal, aid_id)
    before = aid_out(aid)
    alert_row = await repository.get_alert(session, aid.alert_id, lock=True)
    if alert_row is None or alert_row.state == "closed":
        raise Conflict(f"alert {aid.alert_id} is closed", code="alert_closed")
    if (active := await repository.active_for_alert(session, aid.alert_id)) is not None:
        raise Conflict(f"alert {aid.alert_id} already has task {active.id}", code="alert_has_task")
    unit = await session.get(Unit, aid.unit_id)
    assert unit is not None  # the proposal goes with its unit (ON DELETE CASCADE)
    result = await assign_alert(
        session,
        alert=Alert.model_validate(alert_row.payload),
        settings=settings,
        now=now,
        only_unit=aid.unit_id,
        extra_cities=frozenset({unit.city_code}),
    )
    if result.task is None:
        raise Conflict(f"unit {aid.unit_id} cannot take the alert: {result.reason}", code="no_unit")
    task = result.task
    await session.execute(update(TaskRow).where(TaskRow.id == task.id).values(aid_admin_code=unit.admin_code))
    task.aid_admin_code = unit.admin_code
    alert_row.state, alert_row.last_reason, alert_row.next_try_at = "handled", None, None
    aid.state, aid.decided_by, aid.decision_reason, aid.decided_at, aid.task_id = (
        "accepted",
        principal.sub,
        reason,
        now,
        task.id,
    )
    # One record for the request: the accepted proposal names the task it made.
    await _audit(session, "mutual_aid.accept", aid, before, admin_code=aid.unit_admin_code, ctx=audit_context)
    return aid, task


async def decline(
    session: AsyncSession,
    *,
    principal: Principal,
    aid_id: str,
    reason: str,
    now: datetime,
    audit_context: AuditContext,
) -> MutualAid:
    aid = await _decidable(session, principal, aid_id)
    before = aid_out(aid)
    aid.state, aid.decided_by, aid.decision_reason, aid.decided_at = "declined", principal.sub, reason, now
    await _audit(
        session, "mutual_aid.decline", aid, before, admin_code=aid.unit_admin_code, ctx=audit_context
    )
    return aid


async def search(
    session: AsyncSession,
    *,
    jur: str,
    state: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[MutualAid]:
    """Proposals either city of which lies in ``jur``, newest first."""
    q = select(MutualAid).where(
        or_(MutualAid.alert_admin_code.startswith(jur), MutualAid.unit_admin_code.startswith(jur))
    )
    if state is not None:
        q = q.where(MutualAid.state == state)
    if after is not None:
        q = q.where(before_key((MutualAid.created_at, MutualAid.id), after))
    q = q.order_by(MutualAid.created_at.desc(), MutualAid.id.desc()).limit(limit)
    return list((await session.scalars(q)).all())
