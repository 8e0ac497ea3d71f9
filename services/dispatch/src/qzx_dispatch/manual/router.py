"""A dispatcher's own dispatch from the ranked recommendations (docs/contract.md, dispatch)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from qzx_common.web.auth import Principal
from qzx_common.web.openapi import error_responses
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Audit, ClockDep, Session, SettingsDep
from qzx_dispatch.manual import service
from qzx_dispatch.manual.schemas import DispatchRequest, DispatchResult, EscalateRequest, Recommendations
from qzx_dispatch.tasks.schemas import to_contract

router = APIRouter(prefix="/v1/dispatch", tags=["tasks"])


@router.get("/recommendations/{alert_id}", response_model=Recommendations, responses=error_responses(404))
async def recommendations(
    alert_id: str,
    principal: Annotated[Principal, require(Action.tasks_read)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> Recommendations:
    return await service.recommendations(
        session, principal=principal, alert_id=alert_id, settings=settings, now=clock.now()
    )


@router.post("", response_model=DispatchResult, responses=error_responses(404, 409))
async def dispatch(
    body: DispatchRequest,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.tasks_reassign)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> DispatchResult:
    task = await service.dispatch(
        session,
        principal=principal,
        alert_id=body.alert_id,
        unit_id=body.unit_id,
        reason=body.reason,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return DispatchResult(task=to_contract(task))


@router.post("/escalate", response_model=DispatchResult, responses=error_responses(404, 409))
async def escalate(
    body: EscalateRequest,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.tasks_reassign)],
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> DispatchResult:
    task = await service.escalate(
        session,
        principal=principal,
        task_id=body.task_id,
        reason=body.reason,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return DispatchResult(task=to_contract(task))
