"""Assignment: choose a unit for an alert, lock it, create the task; reassign and cancel.

No unit ever holds two active tasks: the unit's row lock is taken (``SKIP LOCKED``, so replicas
move on to the next candidate instead of queueing) and re-checked before the insert, and the
partial unique index ``uq_tasks_active_unit`` refuses a second active task whatever happens.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, AuditEntry, record, record_many
from qzx_common.contracts.alerts import Alert
from qzx_common.contracts.geo import CITIES, CITY_BY_CODE, city_code, haversine_km
from qzx_common.contracts.tasks import Task
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, InvalidRequest, NotFound
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org.models import Unit
from qzx_dispatch.org.service import audit_scope
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, pending, repository
from qzx_dispatch.tasks.intercept import points_ahead
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.recommend import (
    Need,
    Ranked,
    Recommendation,
    no_unit_reason,
    reasons,
    recommend,
    rejection,
)
from qzx_dispatch.tasks.rules import LOW_PRIORITIES, deadlines, is_enforcement, is_moving, needs, summary
from qzx_dispatch.tasks.schemas import to_contract

MAX_TRIES = 12
# Eligible units ranked in Python, nearest first by straight line (the database's order).
CANDIDATES = 300


@dataclass
class Assignment:
    task: TaskRow | None
    reason: str | None = None


def neighbour_cities(home: str, radius_km: float) -> set[str]:
    c = CITY_BY_CODE.get(home)
    if c is None:
        return set()
    return {
        o.code for o in CITIES if o.code != home and haversine_km(c.lat, c.lon, o.lat, o.lon) <= radius_km
    }


def build_need(
    alert: Alert,
    *,
    settings: DispatchSettings,
    exclude: frozenset[str] = frozenset(),
    unit_scope: str = "37",
    extra_cities: frozenset[str] = frozenset(),
) -> Need:
    """``extra_cities``: cities whose units may take it besides its own (an accepted mutual aid)."""
    home = city_code(alert.location.admin_code)
    moving = is_moving(alert)
    cities = {home} | (neighbour_cities(home, settings.neighbour_km) if moving else set()) | extra_cities
    return Need(
        priority=alert.priority,
        capabilities=needs(alert),
        enforcement=is_enforcement(alert),
        home_city=home,
        cities=frozenset(cities),
        target_lat=alert.location.lat,
        target_lon=alert.location.lon,
        road=alert.location.road,
        points=points_ahead(alert) if moving else [],
        reserve=settings.reserve_units,
        exclude=exclude,
        unit_scope=unit_scope,
    )


async def rank(
    session: AsyncSession, *, need: Need, now: datetime, settings: DispatchSettings
) -> Recommendation:
    if need.priority in LOW_PRIORITIES and need.reserve > 0:
        for city in sorted(need.cities):
            await repository.city_lock(session, city)
    since = now - timedelta(hours=settings.workload_window_h)
    found = await repository.ranking(session, need=need, now=now, since=since, limit=CANDIDATES)
    rec = recommend(found.eligible, need, free=found.free)
    rec.excluded.update(found.excluded)
    return rec


async def pick(session: AsyncSession, ranked: list[Ranked], skipped: list[str]) -> tuple[Ranked, int] | None:
    """Lock the best candidate nobody else is taking (held until commit) and bump its cursor.
    A task committed by a previous holder after this statement's snapshot is caught by the
    unique index at insert time, and the next candidate is tried."""
    for r in ranked[:MAX_TRIES]:
        seq = await repository.claim_unit(session, r.unit_id)
        if seq is not None:
            return r, seq
        skipped.append(r.unit_id)
    return None


def new_task(
    alert: Alert, chosen: Ranked, *, need: Need, rec: Recommendation, skipped: list[str], now: datetime
) -> TaskRow:
    sign_s, feedback_s = deadlines(alert)
    point = chosen.point
    return TaskRow(
        id="T" + uuid.uuid4().hex,
        alert_id=alert.id,
        alert_version=alert.version,
        unit_id=chosen.unit_id,
        status="assigned",
        priority=alert.priority.value,
        target_lat=alert.location.lat,
        target_lon=alert.location.lon,
        target_admin_code=alert.location.admin_code,
        intercept_point=(
            {
                "lat": point.lat,
                "lon": point.lon,
                "device_id": point.device_id,
                "eta_s": round(point.target_eta_s, 1),
            }
            if point
            else None
        ),
        summary=summary(alert),
        enforcement=need.enforcement,
        sign_by=now + timedelta(seconds=sign_s),
        feedback_by=now + timedelta(seconds=sign_s + feedback_s),
        feedback_deadline_s=feedback_s,
        version=1,
        escalated=False,
        reasons=reasons(rec, chosen, need, skipped=skipped),
        created_at=now,
        updated_at=now,
    )


async def assign_alert(
    session: AsyncSession,
    *,
    alert: Alert,
    settings: DispatchSettings,
    now: datetime,
    exclude: frozenset[str] = frozenset(),
    only_unit: str | None = None,
    previous: TaskRow | None = None,
    reason: str | None = None,
    unit_scope: str = "37",
    extra_cities: frozenset[str] = frozenset(),
) -> Assignment:
    """Create a task for the best free unit under ``unit_scope`` (or ``only_unit``); ``previous``
    must already be closed."""
    need = build_need(
        alert, settings=settings, exclude=exclude, unit_scope=unit_scope, extra_cities=extra_cities
    )
    rec = await rank(session, need=need, now=now, settings=settings)
    ranked = rec.ranked
    if only_unit is not None:
        ranked = [r for r in ranked if r.unit_id == only_unit]
        if not ranked:
            return Assignment(None, await _why_not(session, only_unit, need=need, rec=rec, now=now))
    skipped: list[str] = []
    while True:
        picked = await pick(session, ranked, skipped)
        if picked is None:
            why = "every suitable unit was taken concurrently" if ranked else no_unit_reason(rec)
            return Assignment(None, why)
        chosen, seq = picked
        row = new_task(alert, chosen, need=need, rec=rec, skipped=skipped, now=now)
        row.unit_seq = seq
        if previous is not None:
            row.previous_task_id, row.reason, row.escalated = previous.id, reason, previous.escalated
        if not await repository.insert_task(session, row):
            if await repository.active_for_alert(session, alert.id) is not None:
                return Assignment(None, "the alert already has an active task")
            skipped.append(chosen.unit_id)  # the index caught a race the lock did not: next unit
            ranked = [r for r in ranked if r.unit_id != chosen.unit_id]
            continue
        await events.announce(session, row, settings=settings)
        return Assignment(row)


def sees_task(principal: Principal, task: TaskRow) -> bool:
    """The task's city, and the city whose unit took it under mutual aid, both see it."""
    return principal.sees(task.target_admin_code) or principal.sees(task.aid_admin_code)


async def _why_not(
    session: AsyncSession, unit_id: str, *, need: Need, rec: Recommendation, now: datetime
) -> str:
    for r, why in rec.reserved:
        if r.unit_id == unit_id:
            return why
    for c in await repository.on_duty(
        session, cities=sorted(need.cities), now=now, unit_scope=need.unit_scope
    ):
        if c.unit_id == unit_id:
            return rejection(c, need) or "cannot reach the target (fixed post)"
    return "not on duty in the alert's jurisdiction"


async def close(
    session: AsyncSession,
    task: TaskRow,
    *,
    status: str,
    reason: str,
    now: datetime,
    settings: DispatchSettings,
    escalate: bool = False,
) -> None:
    task.status = status
    task.reason = reason
    task.escalated = task.escalated or escalate
    await events.changed(session, task, now=now, settings=settings)
    await unit_freed(session, unit_id=task.unit_id, now=now)


async def unit_freed(session: AsyncSession, *, unit_id: str, now: datetime) -> None:
    """The unit holds no task now: its city's pending alerts are tried at the next watcher tick."""
    unit = await session.get(Unit, unit_id)
    if unit is not None:
        await pending.retry_now(session, city_code=unit.city_code, now=now)


async def record_system(
    session: AsyncSession, *, actor: str, action: str, task: TaskRow, before: dict[str, str] | None = None
) -> None:
    """Audit what dispatch did to a task on its own, under the task's admin code (as a person's
    change of it is), so that the auditor of the task's city sees it."""
    await record(
        session,
        schema=SCHEMA,
        context=AuditContext.system(actor),
        action=action,
        target_type="task",
        target_id=task.id,
        admin_code=audit_scope(task.target_admin_code),
        before=before,
        after=to_contract(task),
    )


async def record_system_many(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    tasks: Sequence[TaskRow],
    contracts: Sequence[Task] | None = None,
) -> None:
    """``record_system`` for many tasks (``contracts``: theirs, when the caller has them already)."""
    after = contracts if contracts is not None else [to_contract(t) for t in tasks]
    await record_many(
        session,
        schema=SCHEMA,
        context=AuditContext.system(actor),
        entries=[
            AuditEntry(action, "task", t.id, after=c, admin_code=audit_scope(t.target_admin_code))
            for t, c in zip(tasks, after, strict=True)
        ],
    )


class _NoUnit(Exception):
    def __init__(self, reason: str | None) -> None:
        super().__init__(reason)
        self.reason = reason


async def reassign(
    session: AsyncSession,
    *,
    task: TaskRow,
    alert: Alert,
    reason: str,
    settings: DispatchSettings,
    now: datetime,
    escalate: bool = False,
    to_unit: str | None = None,
    unit_scope: str = "37",
) -> Assignment:
    """Move an active (locked) task to the next best unit under ``unit_scope``, or ``to_unit``.
    When no unit can take it nothing changes (savepoint rolled back) and the reason is returned;
    the caller decides."""
    exclude = frozenset(await repository.units_of_alert(session, task.alert_id))
    try:
        async with session.begin_nested():
            # Close first: the alert may hold only one active task (uq_tasks_active_alert).
            await close(
                session,
                task,
                status="reassigned",
                reason=reason,
                now=now,
                settings=settings,
                escalate=escalate,
            )
            result = await assign_alert(
                session,
                alert=alert,
                settings=settings,
                now=now,
                exclude=exclude,
                only_unit=to_unit,
                previous=task,
                reason=reason,
                unit_scope=unit_scope,
            )
            if result.task is None:
                raise _NoUnit(result.reason)
    except _NoUnit as nothing:
        await session.refresh(task)
        return Assignment(None, nothing.reason)
    return result


async def manual_reassign(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: str,
    reason: str,
    unit_id: str | None,
    settings: DispatchSettings,
    now: datetime,
    audit_context: AuditContext,
) -> tuple[TaskRow, TaskRow]:
    task = await repository.get_task(session, task_id, lock=True)
    if task is None or not principal.sees(task.target_admin_code):
        raise NotFound(f"no task {task_id!r}", code="task_not_found")
    if task.status not in repository.ACTIVE:
        raise Conflict(f"task {task_id} is {task.status}", code="task_closed")
    if unit_id is not None:
        unit = await session.get(Unit, unit_id)
        if unit is None or not principal.sees(unit.admin_code):
            # As for a roster's unit: another jurisdiction's unit is one that does not exist.
            raise InvalidRequest(f"unit_id: no unit {unit_id!r}", code="unknown_unit")
    alert_row = await repository.get_alert(session, task.alert_id)
    if alert_row is None:
        raise Conflict(f"alert {task.alert_id} is unknown to dispatch", code="alert_unknown")
    before = to_contract(task)
    result = await reassign(
        session,
        task=task,
        alert=Alert.model_validate(alert_row.payload),
        reason=f"{reason} (by {principal.sub})",
        settings=settings,
        now=now,
        to_unit=unit_id,
        unit_scope=principal.jur,  # the next best unit, among those the caller sees
    )
    if result.task is None:
        raise Conflict(f"no unit can take the task: {result.reason}", code="no_unit")
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="task.reassign",
        target_type="task",
        target_id=task.id,
        admin_code=audit_scope(task.target_admin_code),
        before=before,
        after={
            "previous": to_contract(task).model_dump(mode="json"),
            "task": to_contract(result.task).model_dump(mode="json"),
        },
    )
    return task, result.task
