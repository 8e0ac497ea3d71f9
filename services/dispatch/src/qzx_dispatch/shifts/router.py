from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Response

from qzx_common.web.auth import Principal
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Audit, ClockDep, Session, SettingsDep
from qzx_dispatch.shifts import plot, service
from qzx_dispatch.shifts.schemas import ApplyResult, PlanOut, PlanRequest

router = APIRouter(prefix="/v1/shift-plans", tags=["shift plans"])
Planner = Annotated[Principal, require(Action.shifts_plan)]


@router.post("", status_code=201, response_model=PlanOut)
async def create_plan(
    body: PlanRequest,
    audit_context: Audit,
    principal: Planner,
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
) -> PlanOut:
    row = await service.create_plan(
        session,
        principal=principal,
        data=body,
        settings=settings,
        now=clock.now(),
        audit_context=audit_context,
    )
    return service.plan_out(row)


@router.get("/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: str, principal: Planner, session: Session) -> PlanOut:
    return service.plan_out(await service.get_plan(session, principal=principal, plan_id=plan_id))


@router.get("/{plan_id}/plot.png", response_class=Response)
async def plan_plot(plan_id: str, principal: Planner, session: Session) -> Response:
    row = await service.get_plan(session, principal=principal, plan_id=plan_id)
    title = f"Shift plan {row.id} · {row.admin_code} · {row.result['unit_hours']} unit-hours"
    png = await asyncio.to_thread(plot.render, row.result, title=title)
    return Response(png, media_type="image/png")


@router.post("/{plan_id}/apply", response_model=ApplyResult)
async def apply_plan(
    plan_id: str,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.org_write)],
    session: Session,
    clock: ClockDep,
) -> ApplyResult:
    return await service.apply_plan(
        session, principal=principal, plan_id=plan_id, now=clock.now(), audit_context=audit_context
    )
