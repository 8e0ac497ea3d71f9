from __future__ import annotations

from typing import TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError

from qzx_common.contracts.events import describe_error
from qzx_common.web.errors import InvalidRequest
from qzx_common.web.openapi import SIGNED
from qzx_ingest.deps import ExchangeAudit, ExchangePartner, RuntimeDep
from qzx_ingest.exchange import service
from qzx_ingest.exchange.schemas import MAX_EVENTS, AccidentBatch, ExchangeBatch, ExchangeResult, ItemError

B = TypeVar("B", bound=BaseModel)
router = APIRouter(prefix="/v1/exchange", tags=["exchange"])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ExchangeBatch.model_json_schema()}},
    }
}


@router.post(
    "/violations", status_code=202, response_model=ExchangeResult, responses=SIGNED, openapi_extra=_BODY
)
async def receive_violations(
    request: Request, partner: ExchangePartner, audit_context: ExchangeAudit, rt: RuntimeDep
) -> ExchangeResult:
    """Up to 1,000 ViolationEvents from a partner, each accepted, a duplicate, or refused with a reason.

    The body is parsed only after the signature has verified (hence no body parameter here).
    """
    batch = _parse(await request.body(), ExchangeBatch, "events")
    async with rt.engine.begin() as conn:
        result = await service.receive_violations(
            conn,
            partner=partner,
            events=batch.events,
            topic_prefix=rt.settings.topic_prefix,
            audit_context=audit_context,
            nonce=request.headers.get("x-qzx-nonce"),
        )
    rt.relay.wake()
    return ExchangeResult(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[ItemError(index=r.index, error=r.error) for r in result.rejected],
    )


_ACCIDENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AccidentBatch.model_json_schema()}},
    }
}


@router.post(
    "/accidents",
    status_code=202,
    response_model=ExchangeResult,
    responses=SIGNED,
    openapi_extra=_ACCIDENTS_BODY,
)
async def receive_accidents(
    request: Request, partner: ExchangePartner, audit_context: ExchangeAudit, rt: RuntimeDep
) -> ExchangeResult:
    """Up to 1,000 AccidentReports (``{"accidents": [...]}``), each accepted, a duplicate, or refused."""
    batch = _parse(await request.body(), AccidentBatch, "accidents")
    async with rt.engine.begin() as conn:
        result = await service.receive_accidents(
            conn,
            partner=partner,
            reports=batch.accidents,
            topic_prefix=rt.settings.topic_prefix,
            audit_context=audit_context,
            nonce=request.headers.get("x-qzx-nonce"),
        )
    rt.relay.publish_committed(result.staged)
    return ExchangeResult(
        accepted=len(result.new),
        duplicates=result.duplicates,
        rejected=[ItemError(index=i, error=e) for i, e in result.rejected],
    )


def _parse(body: bytes, model: type[B], field: str) -> B:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "too_long" for e in exc.errors()):
            raise InvalidRequest(f"{field}: at most {MAX_EVENTS} per batch", code="too_many_events") from exc
        raise InvalidRequest(describe_error(exc)) from exc
