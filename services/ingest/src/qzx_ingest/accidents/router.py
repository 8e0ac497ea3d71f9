from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from qzx_common.contracts.accidents import RoadFeature, Severity
from qzx_common.web.auth import Principal
from qzx_common.web.errors import NotFound
from qzx_common.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_time_cursor, encode_cursor
from qzx_common.web.permissions import Action, require
from qzx_ingest.accidents import repository, service
from qzx_ingest.accidents.schemas import REPORT_BODY, AccidentList, ReportResult
from qzx_ingest.deps import Audit, RuntimeDep, Session

router = APIRouter(prefix="/v1/accidents", tags=["accidents"])


@router.post("", status_code=201, response_model=ReportResult, openapi_extra=REPORT_BODY)
async def report_accident(
    request: Request,
    response: Response,
    principal: Annotated[Principal, require(Action.accidents_report)],
    audit: Audit,
    rt: RuntimeDep,
) -> ReportResult:
    """One AccidentReport: 201 when new, 200 with ``duplicate: true`` when its id is already stored."""
    body = await request.body()
    async with rt.engine.begin() as conn:
        result = await service.report(
            conn, principal=principal, body=body, topic_prefix=rt.settings.topic_prefix, audit_context=audit
        )
    rt.relay.publish_committed(result.staged)
    if result.duplicate:
        response.status_code = 200
    return ReportResult(accident_id=result.accident_id, duplicate=result.duplicate)


@router.get("", response_model=AccidentList)
async def list_accidents(
    principal: Annotated[Principal, require(Action.accidents_read)],
    session: Session,
    admin_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    severity: Severity | None = None,
    road_feature: RoadFeature | None = None,
    rural: bool | None = None,
    ebike_involved: bool | None = None,
    major: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AccidentList:
    """Accidents in the caller's jurisdiction, newest ``occurred_at`` first."""
    filters = repository.Filters(
        jur=principal.jur,
        admin_code=admin_code,
        severity=severity.value if severity else None,
        road_feature=road_feature.value if road_feature else None,
        rural=rural,
        ebike_involved=ebike_involved,
        major=major,
        since=since,
        until=until,
    )
    rows = await repository.search(
        session, filters=filters, after=decode_time_cursor(cursor), limit=limit + 1
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].occurred_at.isoformat(), rows[-1].accident_id)
    return AccidentList(items=[repository.payload_of(r) for r in rows], next_cursor=next_cursor)


@router.get("/{accident_id}")
async def get_accident(
    accident_id: str, principal: Annotated[Principal, require(Action.accidents_read)], session: Session
) -> dict[str, object]:
    row = await repository.get(session, accident_id)
    if row is None or not principal.sees(row.admin_code):
        # Out-of-jurisdiction reads look like absent ones: no existence oracle.
        raise NotFound(f"没有事故 {accident_id!r} / no accident with that id", code="accident_not_found")
    return repository.payload_of(row)
