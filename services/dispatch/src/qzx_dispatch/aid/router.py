"""Mutual aid between neighbouring cities (docs/contract.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from qzx_common.web.auth import Principal
from qzx_common.web.openapi import error_responses
from qzx_common.web.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    decode_time_cursor,
    encode_time_cursor,
    fetch_size,
    page,
)
from qzx_common.web.permissions import Action, require
from qzx_dispatch.aid import service
from qzx_dispatch.aid.schemas import AidAccepted, AidDecision, AidList, AidOut, AidProposal, aid_out
from qzx_dispatch.deps import Audit, ClockDep, Session, SettingsDep
from qzx_dispatch.tasks.schemas import to_contract

router = APIRouter(prefix="/v1/dispatch/mutual-aid", tags=["tasks"])


@router.post("", status_code=201, response_model=AidOut, responses=error_responses(404, 409, 422))
async def propose(
    body: AidProposal,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.tasks_reassign)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> AidOut:
    aid = await service.propose(
        session,
        principal=principal,
        alert_id=body.alert_id,
        unit_id=body.unit_id,
        reason=body.reason,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return aid_out(aid)


@router.post("/{aid_id}/accept", response_model=AidAccepted, responses=error_responses(403, 404, 409))
async def accept(
    aid_id: str,
    body: AidDecision,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.mutual_aid_accept)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> AidAccepted:
    aid, task = await service.accept(
        session,
        principal=principal,
        aid_id=aid_id,
        reason=body.reason,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return AidAccepted(aid=aid_out(aid), task=to_contract(task))


@router.post("/{aid_id}/decline", response_model=AidOut, responses=error_responses(403, 404, 409))
async def decline(
    aid_id: str,
    body: AidDecision,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.mutual_aid_accept)],
    session: Session,
    clock: ClockDep,
) -> AidOut:
    aid = await service.decline(
        session,
        principal=principal,
        aid_id=aid_id,
        reason=body.reason,
        now=clock.now(),
        audit_context=audit_context,
    )
    return aid_out(aid)


@router.get("", response_model=AidList)
async def list_aid(
    principal: Annotated[Principal, require(Action.tasks_read)],
    session: Session,
    state: Literal["proposed", "accepted", "declined"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AidList:
    rows = await service.search(
        session, jur=principal.jur, state=state, after=decode_time_cursor(cursor), limit=fetch_size(limit)
    )
    rows, nxt = page(rows, limit, lambda r: encode_time_cursor(r.created_at, r.id))
    return AidList(items=[aid_out(r) for r in rows], next_cursor=nxt)
