from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response

from qzx_alerts.alerts.router import scope
from qzx_alerts.deps import Audit, ScoringDep, Session
from qzx_alerts.hazards import repository, service
from qzx_alerts.hazards.schemas import Hazard, HazardIn, HazardList, HazardPatch, HazardStatus, RiskLevel
from qzx_common.web.auth import Principal
from qzx_common.web.openapi import AUTHENTICATED
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


@router.get("", response_model=HazardList, responses=AUTHENTICATED)
async def list_hazards(
    principal: Annotated[Principal, require(Action.hazards_read)],
    session: Session,
    admin_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    status: HazardStatus | None = None,
    risk_level: RiskLevel | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> HazardList:
    after = decode_time_cursor(cursor)
    rows = await repository.search(
        session,
        prefix=scope(principal, admin_code),
        status=status,
        risk_level=risk_level,
        after=after,
        limit=fetch_size(limit),
    )
    rows, next_cursor = page(rows, limit, lambda r: encode_time_cursor(r.created_at, r.id))
    return HazardList(items=[Hazard.model_validate(r) for r in rows], next_cursor=next_cursor)


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
