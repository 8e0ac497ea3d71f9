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
from qzx_ingest.accidents.schemas import REPORT_BODY, AccidentList, QuickClose, QuickSummary, ReportResult
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
    quick = await repository.quick_cases_of(session, [r.accident_id for r in rows])
    items = [repository.payload_of(r, quick.get(r.accident_id)) for r in rows]
    return AccidentList(items=items, next_cursor=next_cursor)


def narrowed(jur: str, admin_code: str | None) -> str | None:
    """The admin-code prefix both the jurisdiction and the filter cover, or None when they are apart."""
    if not admin_code or jur.startswith(admin_code):
        return jur
    return admin_code if admin_code.startswith(jur) else None


@router.get("/quick-handling", response_model=QuickSummary)
async def quick_handling_summary(
    principal: Annotated[Principal, require(Action.accidents_read)],
    session: Session,
    admin_code: Annotated[str | None, Query(pattern=r"^\d{2,6}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuickSummary:
    """Quick-handling cases in the caller's jurisdiction (narrowed by ``admin_code``) whose accident
    occurred in [since, until): open, closed, agreed, and the road-clear times of the closed ones."""
    prefix = narrowed(principal.jur, admin_code)
    if prefix is None:  # an area outside the jurisdiction: nothing of it is visible
        return QuickSummary(
            open=0, closed=0, agreed=0, clear_s_median=None, clear_s_p90=None, clear_s_max=None
        )
    row = await repository.quick_summary(session, prefix=prefix, since=since, until=until)
    return QuickSummary(
        open=row["open"],
        closed=row["closed"],
        agreed=row["agreed"],
        clear_s_median=row["median"],
        clear_s_p90=row["p90"],
        clear_s_max=row["max"],
    )


@router.post("/{accident_id}/quick-handling/close")
async def close_quick_handling(
    accident_id: str,
    close: QuickClose,
    principal: Annotated[Principal, require(Action.accidents_report)],
    audit: Audit,
    session: Session,
) -> dict[str, object]:
    """Close a quick-handling case (事故快处) with its outcome and the time the road was cleared."""
    conn = await session.connection()
    return await service.close_quick_case(
        conn, principal=principal, accident_id=accident_id, close=close, audit_context=audit
    )


@router.get("/{accident_id}")
async def get_accident(
    accident_id: str, principal: Annotated[Principal, require(Action.accidents_read)], session: Session
) -> dict[str, object]:
    row = await repository.get(session, accident_id)
    if row is None or not principal.sees(row.admin_code):
        # Out-of-jurisdiction reads look like absent ones: no existence oracle.
        raise NotFound(f"没有事故 {accident_id!r} / no accident with that id", code="accident_not_found")
    quick = await repository.quick_cases_of(session, [accident_id])
    return repository.payload_of(row, quick.get(accident_id))
