from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response

from qzx_alerts.alerts.router import scope
from qzx_alerts.deps import Audit, DivisionsDep, ScoringDep, Session
from qzx_alerts.hazards import repository, service
from qzx_alerts.hazards.schemas import (
    Assignment,
    Hazard,
    HazardEvent,
    HazardHistory,
    HazardIn,
    HazardList,
    HazardPatch,
    HazardState,
    HazardStatus,
    Reopening,
    RiskLevel,
    Step,
)
from qzx_common.jurisdiction import ADMIN_PREFIX_PATTERN
from qzx_common.web.auth import Principal
from qzx_common.web.openapi import AUTHENTICATED, error_responses
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_cursor,
    encode_time_cursor,
    fetch_size,
    page,
)
from qzx_common.web.permissions import Action, require

router = APIRouter(prefix="/v1/hazards", tags=["hazards"])


AdminPrefix = Annotated[str | None, Query(pattern=ADMIN_PREFIX_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


async def _listed(
    session: Session,
    principal: Principal,
    *,
    admin_code: str | None,
    cursor: str | None,
    limit: int,
    status: str | None = None,
    risk_level: str | None = None,
    state: str | None = None,
    supervised: bool = False,
) -> HazardList:
    rows = await repository.search(
        session,
        prefix=scope(principal, admin_code),
        status=status,
        risk_level=risk_level,
        state=state,
        supervised=supervised,
        after=decode_time_cursor(cursor),
        limit=fetch_size(limit),
    )
    rows, next_cursor = page(rows, limit, lambda r: encode_time_cursor(r.created_at, r.id))
    return HazardList(items=[Hazard.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("", response_model=HazardList, responses=AUTHENTICATED)
async def list_hazards(
    principal: Annotated[Principal, require(Action.hazards_read)],
    session: Session,
    admin_code: AdminPrefix = None,
    status: HazardStatus | None = None,
    risk_level: RiskLevel | None = None,
    state: HazardState | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> HazardList:
    """Hazards whose owner (county, township or village) lies in the caller's jurisdiction."""
    return await _listed(
        session,
        principal,
        admin_code=admin_code,
        cursor=cursor,
        limit=limit,
        status=status,
        risk_level=risk_level,
        state=state,
    )


@router.get("/supervision", response_model=HazardList, responses=AUTHENTICATED)
async def list_supervised(
    principal: Annotated[Principal, require(Action.hazards_read)],
    session: Session,
    admin_code: AdminPrefix = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> HazardList:
    """挂牌督办 Under supervision: hazards past their deadline (escalated by the overdue check) and
    not yet rectified."""
    return await _listed(
        session, principal, admin_code=admin_code, cursor=cursor, limit=limit, supervised=True
    )


@router.get("/{hazard_id}", response_model=Hazard, responses=AUTHENTICATED)
async def get_hazard(
    hazard_id: str, principal: Annotated[Principal, require(Action.hazards_read)], session: Session
) -> Hazard:
    return Hazard.model_validate(await service.visible(session, principal=principal, hazard_id=hazard_id))


@router.post("", response_model=Hazard, status_code=201, responses=AUTHENTICATED)
async def create_hazard(
    body: HazardIn,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
    scoring: ScoringDep,
    after_commit: BackgroundTasks,
) -> Hazard:
    row = await service.create(session, principal=principal, data=body, audit_context=audit_context)
    after_commit.add_task(scoring.hazards.invalidate)  # after the commit, or a reload could miss it
    return Hazard.model_validate(row)


@router.patch("/{hazard_id}", response_model=Hazard, responses=AUTHENTICATED)
async def update_hazard(
    hazard_id: str,
    body: HazardPatch,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
    scoring: ScoringDep,
    after_commit: BackgroundTasks,
) -> Hazard:
    row = await service.update(
        session, principal=principal, hazard_id=hazard_id, patch=body, audit_context=audit_context
    )
    after_commit.add_task(scoring.hazards.invalidate)  # after the commit, or a reload could miss it
    return Hazard.model_validate(row)


@router.delete("/{hazard_id}", status_code=204, responses=AUTHENTICATED)
async def delete_hazard(
    hazard_id: str,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
    scoring: ScoringDep,
    after_commit: BackgroundTasks,
) -> Response:
    await service.delete(session, principal=principal, hazard_id=hazard_id, audit_context=audit_context)
    after_commit.add_task(scoring.hazards.invalidate)  # after the commit, or a reload could miss it
    return Response(status_code=204)


@router.get("/{hazard_id}/history", response_model=HazardHistory, responses=AUTHENTICATED)
async def hazard_history(
    hazard_id: str, principal: Annotated[Principal, require(Action.hazards_read)], session: Session
) -> HazardHistory:
    """Every transition (with its note and evidence) and escalation, oldest first."""
    rows = await service.history(session, principal=principal, hazard_id=hazard_id)
    return HazardHistory(hazard_id=hazard_id, items=[HazardEvent.model_validate(r) for r in rows])


TRANSITION_ERRORS = AUTHENTICATED | error_responses(404, 409)


@router.post("/{hazard_id}/assign", response_model=Hazard, responses=TRANSITION_ERRORS)
async def assign_hazard(
    hazard_id: str,
    body: Assignment,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
    divisions: DivisionsDep,
) -> Hazard:
    """identified, assigned or reopened → assigned: the owner (county, township or village code),
    its responsible body and person, and the deadline."""
    row = await service.assign(
        session,
        principal=principal,
        hazard_id=hazard_id,
        assignment=body,
        divisions=divisions,
        audit_context=audit_context,
    )
    return Hazard.model_validate(row)


async def _advance(
    session: Session,
    principal: Principal,
    audit_context: Audit,
    *,
    hazard_id: str,
    transition: service.Transition,
    step: Step,
) -> Hazard:
    row = await service.advance(
        session,
        principal=principal,
        hazard_id=hazard_id,
        transition=transition,
        step=step,
        audit_context=audit_context,
    )
    return Hazard.model_validate(row)


@router.post("/{hazard_id}/start", response_model=Hazard, responses=TRANSITION_ERRORS)
async def start_rectifying(
    hazard_id: str,
    body: Step,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
) -> Hazard:
    """assigned or reopened → rectifying."""
    return await _advance(
        session, principal, audit_context, hazard_id=hazard_id, transition=service.START, step=body
    )


@router.post("/{hazard_id}/complete", response_model=Hazard, responses=TRANSITION_ERRORS)
async def complete_rectification(
    hazard_id: str,
    body: Step,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
) -> Hazard:
    """rectifying → rectified (the owner's report, with its evidence)."""
    return await _advance(
        session, principal, audit_context, hazard_id=hazard_id, transition=service.COMPLETE, step=body
    )


@router.post("/{hazard_id}/verify", response_model=Hazard, responses=TRANSITION_ERRORS)
async def verify_rectification(
    hazard_id: str,
    body: Step,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
) -> Hazard:
    """rectified → verified, by a level above the owner (403 above_owner_required otherwise)."""
    return await _advance(
        session, principal, audit_context, hazard_id=hazard_id, transition=service.VERIFY, step=body
    )


@router.post("/{hazard_id}/reopen", response_model=Hazard, responses=TRANSITION_ERRORS)
async def reopen_hazard(
    hazard_id: str,
    body: Reopening,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
) -> Hazard:
    """rectified or verified → reopened, by a level above the owner; a note says why."""
    return await _advance(
        session, principal, audit_context, hazard_id=hazard_id, transition=service.REOPEN, step=body
    )
