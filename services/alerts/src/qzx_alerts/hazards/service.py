"""The hazard ledger and its rectification workflow: every write is jurisdiction-checked and audited
in the same transaction; every transition is also a row of the hazard's history, with its evidence.

identified → assigned → rectifying → rectified → verified, and rectified or verified → reopened
(the rectification did not hold) → assigned or rectifying again. A hazard is seen by whoever sees its
owner (``owner_code``: the county, township or village that must act)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.divisions.reference import Divisions
from qzx_alerts.hazards import repository
from qzx_alerts.hazards.models import HazardEventRow, HazardRow
from qzx_alerts.hazards.schemas import Assignment, Hazard, HazardIn, HazardPatch, HazardState, Step
from qzx_common import audit
from qzx_common.audit import AuditContext
from qzx_common.contracts.areas import city_at, lies_in
from qzx_common.contracts.geo import CITY_BY_CODE
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Conflict, Forbidden, InvalidRequest, NotFound


def _ensure_in_area(admin_code: str, lat: float, lon: float) -> None:
    """A hazard point scores the sightings of its admin code's city near it: it must lie there."""
    if not lies_in(admin_code, lat, lon):
        there = CITY_BY_CODE.get(city_at(lat, lon) or "")
        where = f" (it lies in {there.name})" if there else ""
        raise InvalidRequest(
            f"lat/lon ({lat}, {lon}) lie outside the city of admin_code {admin_code}{where}",
            code="outside_admin_area",
        )


async def visible(session: AsyncSession, *, principal: Principal, hazard_id: str) -> HazardRow:
    row = await repository.get(session, hazard_id)
    if row is None or not principal.sees(row.owner_code):
        raise NotFound(f"no hazard point with id {hazard_id!r}", code="hazard_not_found")
    return row


def _snapshot(row: HazardRow) -> dict[str, object]:
    return Hazard.model_validate(row).model_dump(mode="json")


async def create(
    session: AsyncSession, *, principal: Principal, data: HazardIn, audit_context: AuditContext
) -> HazardRow:
    ensure_sees(principal, data.admin_code)
    _ensure_in_area(data.admin_code, data.lat, data.lon)
    now = datetime.now(UTC)
    row = HazardRow(
        id=f"hz-{uuid.uuid4().hex[:16]}",
        created_by=principal.sub,
        created_at=now,
        updated_at=now,
        state="identified",
        state_changed_at=now,
        owner_code=data.admin_code,  # the county owns it until it is assigned
        **data.model_dump(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hazard.create",
        target_type="hazard",
        target_id=row.id,
        after=_snapshot(row),
        admin_code=row.owner_code,
    )
    return row


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    hazard_id: str,
    patch: HazardPatch,
    audit_context: AuditContext,
) -> HazardRow:
    row = await visible(session, principal=principal, hazard_id=hazard_id)
    before = _snapshot(row)
    changes = patch.model_dump(exclude_unset=True)
    if "admin_code" in changes:
        ensure_sees(principal, changes["admin_code"])
        if not row.owner_code.startswith(changes["admin_code"]):
            raise InvalidRequest(
                f"the hazard is assigned to {row.owner_code}, outside county {changes['admin_code']}: "
                "assign it within the new county first",
                code="owner_outside_county",
            )
    if changes.keys() & {"admin_code", "lat", "lon"}:
        _ensure_in_area(
            changes.get("admin_code", row.admin_code),
            changes.get("lat", row.lat),
            changes.get("lon", row.lon),
        )
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hazard.update",
        target_type="hazard",
        target_id=row.id,
        before=before,
        after=_snapshot(row),
        admin_code=row.owner_code,
    )
    return row


async def delete(
    session: AsyncSession, *, principal: Principal, hazard_id: str, audit_context: AuditContext
) -> None:
    row = await visible(session, principal=principal, hazard_id=hazard_id)
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hazard.delete",
        target_type="hazard",
        target_id=row.id,
        before=_snapshot(row),
        admin_code=row.owner_code,
    )
    await session.delete(row)


# -- the rectification workflow ----------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    kind: str
    to: HazardState
    allowed_from: frozenset[HazardState]


ASSIGN = Transition("assign", "assigned", frozenset({"identified", "assigned", "reopened"}))
START = Transition("start", "rectifying", frozenset({"assigned", "reopened"}))
COMPLETE = Transition("complete", "rectified", frozenset({"rectifying"}))
VERIFY = Transition("verify", "verified", frozenset({"rectified"}))
REOPEN = Transition("reopen", "reopened", frozenset({"rectified", "verified"}))
TRANSITIONS = (ASSIGN, START, COMPLETE, VERIFY, REOPEN)
# Off the supervision list: the owner has done the work.
DONE_STATES: frozenset[HazardState] = frozenset({"rectified", "verified"})
ESCALATION_ACTOR = "system:hazard-overdue-check"


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"

    def __init__(self, transition: Transition, state: str) -> None:
        allowed = ", ".join(sorted(transition.allowed_from))
        super().__init__(f"cannot {transition.kind} a hazard that is {state} (only from: {allowed})")


async def _step(
    session: AsyncSession,
    *,
    row: HazardRow,
    transition: Transition,
    step: Step,
    actor: str,
    audit_context: AuditContext,
    detail: dict[str, object] | None = None,
) -> HazardRow:
    """Move ``row`` along ``transition`` (already checked), with its history row and audit record."""
    before = _snapshot(row)
    from_state = row.state
    now = datetime.now(UTC)
    row.state = transition.to
    row.state_changed_at = now
    if transition.to == "rectified":
        row.rectified_at = now  # the reports count rectifications by when the owner reported them
    elif transition.to == "reopened":
        row.rectified_at = None
    row.updated_at = now
    evidence = [str(uri) for uri in step.evidence]
    session.add(
        HazardEventRow(
            hazard_id=row.id,
            kind=transition.kind,
            from_state=from_state,
            to_state=transition.to,
            actor=actor,
            note=step.note,
            evidence=evidence,
            detail=detail or {},
            at=now,
        )
    )
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action=f"hazard.{transition.kind}",
        target_type="hazard",
        target_id=row.id,
        before=before,
        after=_snapshot(row) | {"note": step.note, "evidence": evidence},
        admin_code=row.owner_code,
    )
    return row


async def _movable(
    session: AsyncSession, *, principal: Principal, hazard_id: str, transition: Transition
) -> HazardRow:
    row = await visible(session, principal=principal, hazard_id=hazard_id)
    await session.refresh(row, with_for_update=True)  # two requests racing move it once
    if row.state not in transition.allowed_from:
        raise TransitionNotAllowed(transition, row.state)
    return row


async def assign(
    session: AsyncSession,
    *,
    principal: Principal,
    hazard_id: str,
    assignment: Assignment,
    divisions: Divisions,
    audit_context: AuditContext,
) -> HazardRow:
    """Name who must rectify by when: a body and a person at the county, a township or a village of
    the hazard's county (an official code). Also re-assigns, and hands a reopened hazard on."""
    row = await _movable(session, principal=principal, hazard_id=hazard_id, transition=ASSIGN)
    owner = assignment.owner_code
    ensure_sees(principal, owner)
    if not owner.startswith(row.admin_code):
        raise InvalidRequest(
            f"owner {owner} is not the hazard's county {row.admin_code} nor a township or village in it",
            code="owner_outside_county",
        )
    division = divisions.get(owner)
    if division is None:
        raise InvalidRequest(f"{owner} is no official division code of the province", code="unknown_division")
    if assignment.deadline <= datetime.now(UTC):
        raise InvalidRequest("the deadline must lie in the future", code="deadline_passed")
    row.owner_code = owner
    row.owner_name = division.name
    row.responsible_body = assignment.responsible_body
    row.responsible_person = assignment.responsible_person
    row.deadline = assignment.deadline
    detail: dict[str, object] = {
        "owner_code": owner,
        "owner_name": division.name,
        "responsible_body": assignment.responsible_body,
        "responsible_person": assignment.responsible_person,
        "deadline": assignment.deadline.isoformat(),
    }
    return await _step(
        session,
        row=row,
        transition=ASSIGN,
        step=assignment,
        actor=principal.sub,
        audit_context=audit_context,
        detail=detail,
    )


async def advance(
    session: AsyncSession,
    *,
    principal: Principal,
    hazard_id: str,
    transition: Transition,
    step: Step,
    audit_context: AuditContext,
) -> HazardRow:
    """start, complete, verify or reopen. Verifying and reopening are the supervising level's: a
    jurisdiction above the owner's, so that no owner signs off its own work."""
    row = await _movable(session, principal=principal, hazard_id=hazard_id, transition=transition)
    if transition in (VERIFY, REOPEN) and len(principal.jur) >= len(row.owner_code):
        raise Forbidden(
            f"{transition.kind} is for a level above the owner {row.owner_code}, not {principal.jur}",
            code="above_owner_required",
        )
    if transition is REOPEN:
        row.escalated_at = None  # a reopened hazard past its deadline is escalated anew
        row.supervised_by = None
    return await _step(
        session, row=row, transition=transition, step=step, actor=principal.sub, audit_context=audit_context
    )


async def history(session: AsyncSession, *, principal: Principal, hazard_id: str) -> list[HazardEventRow]:
    await visible(session, principal=principal, hazard_id=hazard_id)
    return await repository.events(session, hazard_id)


async def escalate_overdue(session: AsyncSession, *, now: datetime) -> list[str]:
    """Put every open hazard past its deadline under the supervision of the level above its owner
    (挂牌督办), once: a hazard already escalated is left alone, so the check may run anywhere and
    often. Returns the escalated ids."""
    escalated = await repository.mark_overdue(session, now=now)
    context = AuditContext.system(ESCALATION_ACTOR)
    for hazard_id, state, owner_code, supervised_by in escalated:
        session.add(
            HazardEventRow(
                hazard_id=hazard_id,
                kind="escalate",
                from_state=state,
                to_state=state,
                actor=ESCALATION_ACTOR,
                note=None,
                evidence=[],
                detail={"supervised_by": supervised_by},
                at=now,
            )
        )
        await audit.record(
            session,
            schema=SCHEMA,
            context=context,
            action="hazard.escalate",
            target_type="hazard",
            target_id=hazard_id,
            after={"escalated_at": now.isoformat(), "supervised_by": supervised_by, "state": state},
            admin_code=owner_code,
        )
    await session.flush()
    return [e[0] for e in escalated]


async def identify(
    session: AsyncSession, *, data: HazardIn, actor: str, detail: dict[str, object]
) -> HazardRow:
    """A hazard found by black-spot analysis and confirmed by ``actor`` (the caller audits the
    confirmation); its history starts with the finding."""
    _ensure_in_area(data.admin_code, data.lat, data.lon)
    now = datetime.now(UTC)
    row = HazardRow(
        id=f"hz-{uuid.uuid4().hex[:16]}",
        created_by=actor,
        created_at=now,
        updated_at=now,
        state="identified",
        state_changed_at=now,
        owner_code=data.admin_code,
        **data.model_dump(),
    )
    session.add(row)
    await session.flush()  # the hazard before its history (no ORM relationship orders them)
    session.add(
        HazardEventRow(
            hazard_id=row.id,
            kind="identify",
            from_state=None,
            to_state="identified",
            actor=actor,
            note=data.note,
            evidence=[],
            detail=detail,
            at=now,
        )
    )
    await session.flush()
    return row


async def add_evidence(
    session: AsyncSession, *, row: HazardRow, actor: str, note: str | None, detail: dict[str, object]
) -> HazardRow:
    """A known hazard (存量) gains the evidence of a confirmed black spot; its state is unchanged
    (the supervising level reopens a verified one with it)."""
    now = datetime.now(UTC)
    row.status = "stock"
    row.updated_at = now
    session.add(
        HazardEventRow(
            hazard_id=row.id,
            kind="evidence",
            from_state=row.state,
            to_state=row.state,
            actor=actor,
            note=note,
            evidence=[],
            detail=detail,
            at=now,
        )
    )
    await session.flush()
    return row


def snapshot(row: HazardRow) -> dict[str, object]:
    return _snapshot(row)
