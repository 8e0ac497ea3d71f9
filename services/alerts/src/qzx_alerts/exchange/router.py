from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from qzx_alerts.deps import Connection, ExchangeAudit, ExchangePartner, Session
from qzx_alerts.exchange import service
from qzx_alerts.exchange.schemas import FEED_MAX, MAX_ENTRIES, DailyStats, Feed, HotlistBatch, HotlistResult
from qzx_common.contracts.events import describe_error
from qzx_common.web.errors import InvalidRequest
from qzx_common.web.openapi import SIGNED
from qzx_common.web.pagination import decode_cursor

router = APIRouter(prefix="/v1/exchange", tags=["exchange"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": HotlistBatch.model_json_schema()}},
    }
}


@router.post("/hotlists", response_model=HotlistResult, responses=SIGNED, openapi_extra=_BODY)
async def receive_hotlists(
    request: Request, partner: ExchangePartner, audit_context: ExchangeAudit, session: Session
) -> HotlistResult:
    """A ministry or province watch list, merged by plate into the partner's list (idempotent:
    re-sending it changes nothing). Entries are refused one by one, with a reason.

    The body is parsed only after the signature has verified (hence no body parameter here)."""
    try:
        batch = HotlistBatch.model_validate_json(await request.body())
    except ValidationError as exc:
        if any(e["type"] == "too_long" for e in exc.errors()):
            raise InvalidRequest(
                f"entries: at most {MAX_ENTRIES} per batch", code="too_many_entries"
            ) from exc
        raise InvalidRequest(describe_error(exc)) from exc
    return await service.receive_hotlists(
        session,
        partner=partner,
        entries=batch.entries,
        audit_context=audit_context,
        nonce=request.headers.get("x-qzx-nonce"),
    )


@router.get("/feed", response_model=Feed, responses=SIGNED)
async def alert_feed(
    partner: ExchangePartner,
    conn: Connection,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=FEED_MAX)] = 200,
) -> Feed:
    """Alerts and their dispositions within the partner's prefix, after ``cursor`` (from the start
    without one), oldest first."""
    after = decode_cursor(cursor, int)[0] if cursor else 0
    return await service.feed(conn, partner=partner, after=after, limit=limit)


@router.get("/stats/daily", response_model=DailyStats, responses=SIGNED)
async def daily_stats(partner: ExchangePartner, conn: Connection, date: date | None = None) -> DailyStats:
    """Per city of the partner's prefix, for one China-time calendar day (default today): violations
    by type, alerts by priority, and how many were dispatched, resolved, dismissed, escalated."""
    return await service.daily_stats(conn, partner=partner, day=date or service.today())
