"""The patrol-app protocol (docs/contract.md): long-poll, sign, status, feedback, location."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from qzx_common.db import transaction
from qzx_common.metrics import LONG_POLLS
from qzx_common.web.auth import Principal
from qzx_common.web.errors import InvalidRequest
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Audit, ClockDep, LongPollSlot, NotifierDep, RuntimeDep, Session, SettingsDep
from qzx_dispatch.patrol import idempotency, service
from qzx_dispatch.patrol.schemas import (
    FeedbackRequest,
    LocationRequest,
    LocationResult,
    PatrolTasks,
    StatusRequest,
)
from qzx_dispatch.supervision.service import observe
from qzx_dispatch.tasks.models import TaskRow
from qzx_dispatch.tasks.schemas import to_contract

router = APIRouter(prefix="/v1/patrol", tags=["patrol"])
Patrol = Annotated[Principal, require(Action.patrol_act)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]
DEVICE_ID = r"^[\x21-\x7e]{1,128}$"


async def observed_signer(
    request: Request,
    principal: Patrol,
    rt: RuntimeDep,
    settings: SettingsDep,
    clock: ClockDep,
    device_id: Annotated[str | None, Header(alias="X-Device-Id", pattern=DEVICE_ID)] = None,
) -> Principal:
    """The patrol caller, after the signs of a shared credential its action shows are recorded
    (committed on their own: kept when the action is refused, e.g. ``not_on_crew``). Routes
    declare it before ``Session``, so its connection is back in the pool before theirs is taken."""
    async with transaction(rt.sessions) as s:
        await observe(
            s,
            principal=principal,
            device_id=device_id,
            action=f"{request.method} {request.url.path}",
            now=clock.now(),
            window=timedelta(seconds=settings.shared_credential_window_s),
        )
    return principal


Signer = Annotated[Principal, Depends(observed_signer)]


@router.get("/tasks", response_model=PatrolTasks)
async def poll_tasks(
    principal: Patrol,
    _held: LongPollSlot,
    rt: RuntimeDep,
    notifier: NotifierDep,
    settings: SettingsDep,
    cursor: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[int, Query(ge=0, le=30)] = 0,
) -> PatrolTasks:
    # No request session here: a held long-poll must not hold a database connection.
    with LONG_POLLS.track_inprogress():
        tasks, new_cursor = await service.long_poll(
            sessions=rt.sessions,
            notifier=notifier,
            unit_id=str(principal.unit_id),
            cursor=cursor,
            wait=min(wait, settings.long_poll_max_s),
            page=settings.patrol_page,
        )
    return PatrolTasks(tasks=tasks, cursor=new_cursor)


async def _once(
    request: Request,
    session: Any,
    principal: Principal,
    key: str | None,
    run: Callable[[], Awaitable[TaskRow]],
) -> JSONResponse:
    """Run ``run`` once per Idempotency-Key; a retry gets the stored response."""
    unit_id = str(principal.unit_id)
    if key is not None and not key.strip():
        raise InvalidRequest("Idempotency-Key: must not be blank", code="invalid_idempotency_key")
    request_hash = idempotency.fingerprint(request.method, request.url.path, await request.body())
    if key is not None:
        prior = await idempotency.stored(session, unit_id=unit_id, key=key, request_hash=request_hash)
        if prior is not None:
            return JSONResponse(
                prior.response, status_code=prior.status_code, headers={"Idempotent-Replayed": "true"}
            )
    body = to_contract(await run()).model_dump(mode="json")
    if key is not None:
        await idempotency.remember(
            session, unit_id=unit_id, key=key, request_hash=request_hash, status_code=200, response=body
        )
    return JSONResponse(body)


@router.post("/tasks/{task_id}/sign")
async def sign(
    task_id: str,
    request: Request,
    principal: Signer,
    audit_context: Audit,
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _once(
        request,
        session,
        principal,
        idempotency_key,
        lambda: service.act(
            session,
            principal=principal,
            task_id=task_id,
            action="sign",
            settings=settings,
            now=clock.now(),
            audit_context=audit_context,
        ),
    )


@router.post("/tasks/{task_id}/status")
async def set_status(
    task_id: str,
    body: StatusRequest,
    request: Request,
    principal: Signer,
    audit_context: Audit,
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _once(
        request,
        session,
        principal,
        idempotency_key,
        lambda: service.act(
            session,
            principal=principal,
            task_id=task_id,
            action=body.status,
            settings=settings,
            now=clock.now(),
            audit_context=audit_context,
        ),
    )


@router.post("/tasks/{task_id}/feedback")
async def feedback(
    task_id: str,
    body: FeedbackRequest,
    request: Request,
    principal: Signer,
    audit_context: Audit,
    session: Session,
    settings: SettingsDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await _once(
        request,
        session,
        principal,
        idempotency_key,
        lambda: service.act(
            session,
            principal=principal,
            task_id=task_id,
            action="feedback",
            settings=settings,
            now=clock.now(),
            outcome=body.outcome,
            note=body.note,
            audit_context=audit_context,
        ),
    )


@router.post("/location", response_model=LocationResult)
async def location(
    body: LocationRequest, principal: Signer, audit_context: Audit, session: Session, clock: ClockDep
) -> LocationResult:
    applied = await service.report_location(
        session,
        principal=principal,
        lat=body.lat,
        lon=body.lon,
        at=body.at,
        now=clock.now(),
        audit_context=audit_context,
    )
    return LocationResult(
        unit_id=str(principal.unit_id), lat=body.lat, lon=body.lon, at=body.at, applied=applied
    )
