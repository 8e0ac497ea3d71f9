"""The patrol app's side of the loop: long-poll, sign, status, feedback, location."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_common.audit import AuditContext, record
from qzx_common.contracts.tasks import Outcome
from qzx_common.web.auth import Principal, Role
from qzx_common.web.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org.models import Unit, UnitLocation
from qzx_dispatch.org.service import audit_scope
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.patrol.schemas import ALERT_EVENTS_SHOWN, AlertFacts, PatrolTask
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.tasks import events, repository
from qzx_dispatch.tasks.models import AlertRecord, TaskRow
from qzx_dispatch.tasks.schemas import to_contract
from qzx_dispatch.tasks.service import unit_freed

# action → (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "sign": (frozenset({"assigned"}), "signed"),
    "en_route": (frozenset({"signed"}), "en_route"),
    "on_scene": (frozenset({"signed", "en_route"}), "on_scene"),
    "feedback": (frozenset({"signed", "en_route", "on_scene"}), "resolved"),
}
CLOSED = frozenset({"resolved", "reassigned", "cancelled"})
FUTURE_TOLERANCE = timedelta(minutes=5)


async def read_changes(
    sessions: async_sessionmaker[AsyncSession], *, unit_id: str, cursor: int, page: int
) -> tuple[list[PatrolTask], int, int]:
    """The unit's tasks changed after ``cursor``, the new cursor, and the unit's current cursor."""
    async with sessions() as s:
        current = await s.scalar(select(Unit.change_seq).where(Unit.id == unit_id))
        if current is None:
            raise NotFound(f"no unit {unit_id!r}", code="unit_not_found")
        if cursor > current:  # a cursor from another life of this unit: resynchronise from scratch
            cursor = 0
        rows = await repository.changed_for_unit(s, unit_id=unit_id, after_seq=cursor, limit=page)
        facts = await alert_facts(s, {r.alert_id for r in rows})
    tasks = [PatrolTask(**dict(to_contract(r)), alert=facts.get(r.alert_id)) for r in rows]
    return tasks, (rows[-1].unit_seq if rows else cursor), current


async def alert_facts(session: AsyncSession, alert_ids: set[str]) -> dict[str, AlertFacts]:
    """The plate, violations, factors, latest events and pictures of these alerts, by id (one query)."""
    if not alert_ids:
        return {}
    payload = AlertRecord.payload  # the stored alerts.v1 value
    rows = await session.execute(
        select(
            AlertRecord.alert_id,
            AlertRecord.violations,
            payload["plate"],
            payload["factors"],
            payload["event_ids"],
            payload["evidence"],
        ).where(AlertRecord.alert_id.in_(alert_ids))
    )
    return {
        alert_id: AlertFacts(
            plate=plate,
            violations=violations,
            factors=factors or [],
            event_ids=(event_ids or [])[-ALERT_EVENTS_SHOWN:],
            evidence=evidence or [],  # none in an alert published before alerts carried pictures
        )
        for alert_id, violations, plate, factors, event_ids, evidence in rows
    }


async def long_poll(
    *,
    sessions: async_sessionmaker[AsyncSession],
    notifier: UnitNotifier,
    unit_id: str,
    cursor: int,
    wait: float,
    page: int,
) -> tuple[list[PatrolTask], int]:
    """The unit's tasks changed after ``cursor`` (each once, in its latest state); holds up to
    ``wait`` seconds for one when there are none yet, and not at all once the process is stopping.
    The database is read only when the listener does not already know that nothing changed:
    thousands of idle phones re-polling cost no queries."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    with notifier.subscription(unit_id) as woken:
        while True:
            woken.clear()
            if notifier.unchanged_since(unit_id, cursor):
                tasks: list[PatrolTask] = []
                new_cursor = cursor
            else:
                generation = notifier.generation
                tasks, new_cursor, current = await read_changes(
                    sessions, unit_id=unit_id, cursor=cursor, page=page
                )
                notifier.learn(unit_id, current, generation)
            remaining = deadline - loop.time()
            if tasks or remaining <= 0 or notifier.draining:
                return tasks, new_cursor
            try:
                await asyncio.wait_for(woken.wait(), remaining)
            except TimeoutError:
                pass


_CREW_KIND = text(
    f"SELECT o.kind FROM {SCHEMA}.rosters r JOIN {SCHEMA}.officers o ON o.id = :sub AND o.active "
    "WHERE r.unit_id = :u AND r.starts_at <= :now AND r.ends_at > :now AND :sub = ANY(r.crew) LIMIT 1"
)


async def crew_kind(session: AsyncSession, *, principal: Principal, now: datetime) -> str | None:
    """``sworn`` | ``auxiliary``: the token's person, active and on the crew of the token's unit's
    current roster; None when not (a shared or borrowed credential, or an officer off shift)."""
    if principal.unit_id is None:
        return None
    kind = await session.scalar(_CREW_KIND, {"sub": principal.sub, "u": principal.unit_id, "now": now})
    return None if kind is None else str(kind)


async def require_crew(session: AsyncSession, *, principal: Principal, now: datetime) -> bool:
    """The signer of a patrol action is one person on the unit's current crew (403 ``not_on_crew``
    otherwise); True when that person is an auxiliary (by the token's role or the officer record)."""
    kind = await crew_kind(session, principal=principal, now=now)
    if kind is None:
        raise Forbidden(
            f"{principal.sub} is not on the current roster crew of unit {principal.unit_id}: "
            "patrol actions are signed by a crew member in person",
            code="not_on_crew",
        )
    return kind == "auxiliary" or principal.role == Role.auxiliary_officer


async def sworn_on_board(session: AsyncSession, *, unit_id: str, now: datetime) -> bool:
    got = await session.scalar(
        text(
            f"SELECT bool_or(has_sworn) FROM {SCHEMA}.rosters "
            "WHERE unit_id = :u AND starts_at <= :now AND ends_at > :now"
        ),
        {"u": unit_id, "now": now},
    )
    return bool(got)


async def act(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: str,
    action: str,
    settings: DispatchSettings,
    now: datetime,
    outcome: Outcome | None = None,
    note: str | None = None,
    audit_context: AuditContext,
) -> TaskRow:
    """sign | en_route | on_scene | feedback, by a crew member of the unit that holds the task."""
    auxiliary = await require_crew(session, principal=principal, now=now)
    task = await repository.get_task(session, task_id, lock=True)
    if task is None or task.unit_id != principal.unit_id:
        raise NotFound(f"no task {task_id!r} for your unit", code="task_not_found")
    sources, target = TRANSITIONS[action]
    if task.status in CLOSED:
        raise Conflict(f"task {task_id} is {task.status}", code="task_closed")
    if task.status not in sources:
        raise Conflict(f"cannot {action} a task that is {task.status}", code="invalid_transition")
    if (
        action in ("sign", "feedback")
        and task.enforcement
        and auxiliary
        and not await sworn_on_board(session, unit_id=task.unit_id, now=now)
    ):
        raise Forbidden(
            "an auxiliary officer may not sign for or close an enforcement task without a sworn officer "
            "on the unit's current roster",
            code="auxiliary_without_sworn",
        )
    before = to_contract(task)
    task.status = target
    if action == "sign":
        task.signed_at = now
        task.feedback_by = now + timedelta(seconds=task.feedback_deadline_s)
    elif action == "feedback":
        task.outcome, task.note, task.resolved_at = (outcome.value if outcome else None), note, now
    await events.changed(session, task, now=now, settings=settings)
    if target in CLOSED:
        await unit_freed(session, unit_id=task.unit_id, now=now)
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action=f"task.{action}",
        target_type="task",
        target_id=task.id,
        admin_code=task.target_admin_code,
        before=before,
        after=to_contract(task),
    )
    return task


async def report_location(
    session: AsyncSession,
    *,
    principal: Principal,
    lat: float,
    lon: float,
    at: datetime,
    now: datetime,
    audit_context: AuditContext,
) -> bool:
    """Store the unit's position unless a newer one is stored (pings arrive out of order)."""
    if at - now > FUTURE_TOLERANCE:
        raise InvalidRequest("at: more than 5 minutes in the future", code="invalid_location")
    unit_id = principal.unit_id
    unit = await session.get(Unit, unit_id) if unit_id is not None else None
    if unit_id is None or unit is None:
        raise NotFound(f"no unit {unit_id!r}", code="unit_not_found")
    await require_crew(session, principal=principal, now=now)
    upsert = insert(UnitLocation).values(unit_id=unit_id, lat=lat, lon=lon, at=at)
    stmt = upsert.on_conflict_do_update(
        index_elements=[UnitLocation.unit_id],
        set_={"lat": lat, "lon": lon, "at": at},
        where=UnitLocation.at < at,
    ).returning(UnitLocation.unit_id)
    applied = (await session.scalar(stmt)) is not None
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="unit.location",
        target_type="unit",
        target_id=unit_id,
        admin_code=audit_scope(unit.admin_code),
        after={"lat": lat, "lon": lon, "at": at.isoformat(), "applied": applied},
    )
    return applied
