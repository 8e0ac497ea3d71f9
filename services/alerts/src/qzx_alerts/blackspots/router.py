from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query

from qzx_alerts.alerts.router import scope
from qzx_alerts.blackspots import repository, service
from qzx_alerts.blackspots.schemas import (
    Confirmation,
    Decided,
    Decision,
    Ledger,
    Proposal,
    ProposalList,
    Rejection,
    Run,
    RunIn,
)
from qzx_alerts.deps import Audit, BlackspotJobsDep, ScoringDep, Session
from qzx_common.jurisdiction import ADMIN_PREFIX_PATTERN
from qzx_common.web.auth import Principal
from qzx_common.web.errors import InvalidRequest
from qzx_common.web.openapi import AUTHENTICATED, error_responses
from qzx_common.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, fetch_size, page
from qzx_common.web.permissions import Action, require

router = APIRouter(prefix="/v1/blackspots", tags=["blackspots"])
DECISION_ERRORS = AUTHENTICATED | error_responses(404, 409)


@router.post("/runs", response_model=Run, status_code=202, responses=AUTHENTICATED)
async def start_run(
    body: RunIn,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
    jobs: BlackspotJobsDep,
    after_commit: BackgroundTasks,
) -> Run:
    """事故多发点分析 Black-spot analysis of a jurisdiction (province, city or county) over a
    period (at most 366 days), in the background: poll `GET /v1/blackspots/runs/{id}` for its
    progress, then list its proposals. A county-and-above tool: a township or village token gets
    403 `blackspots_county_and_above` (it sees the hazards its county assigns to it)."""
    row = await service.request_run(session, principal=principal, data=body, audit_context=audit_context)
    after_commit.add_task(jobs.start, row.id)  # after the commit: the job reads the run's row
    return Run.model_validate(row)


@router.get("/runs/{run_id}", response_model=Run, responses=AUTHENTICATED | error_responses(404))
async def get_run(
    run_id: str, principal: Annotated[Principal, require(Action.hazards_read)], session: Session
) -> Run:
    return Run.model_validate(await service.visible_run(session, principal=principal, run_id=run_id))


def _cursor(row: object) -> str:
    return base64.urlsafe_b64encode(f"{row.run_id}|{row.id}".encode()).decode()  # type: ignore[attr-defined]


def _after(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        run_id, proposal_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except ValueError as exc:
        raise InvalidRequest("cursor is not one this list returned", code="invalid_cursor") from exc
    return run_id, proposal_id


@router.get("/proposals", response_model=ProposalList, responses=AUTHENTICATED)
async def list_proposals(
    principal: Annotated[Principal, require(Action.hazards_read)],
    session: Session,
    run_id: str | None = None,
    decision: Decision | None = None,
    ledger: Ledger | None = None,
    admin_code: Annotated[str | None, Query(pattern=ADMIN_PREFIX_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> ProposalList:
    """Newest run first, each run's proposals ranked (most accidents first)."""
    rows = await repository.search(
        session,
        prefix=scope(principal, admin_code),
        run_id=run_id,
        decision=decision,
        ledger=ledger,
        after=_after(cursor),
        limit=fetch_size(limit),
    )
    rows, next_cursor = page(rows, limit, _cursor)
    return ProposalList(items=[Proposal.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("/proposals/{proposal_id}/confirm", response_model=Decided, responses=DECISION_ERRORS)
async def confirm_proposal(
    proposal_id: str,
    body: Confirmation,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
    scoring: ScoringDep,
    after_commit: BackgroundTasks,
) -> Decided:
    """A new black spot becomes a hazard in state `identified` (增量); one matching a known hazard
    adds its accidents to that hazard's history (存量). 409 `proposal_decided` once decided."""
    row, hazard = await service.confirm(
        session, principal=principal, proposal_id=proposal_id, data=body, audit_context=audit_context
    )
    after_commit.add_task(scoring.hazards.invalidate)  # after the commit, or a reload could miss it
    return Decided(proposal=Proposal.model_validate(row), hazard_id=hazard.id)


@router.post("/proposals/{proposal_id}/reject", response_model=Decided, responses=DECISION_ERRORS)
async def reject_proposal(
    proposal_id: str,
    body: Rejection,
    audit_context: Audit,
    principal: Annotated[Principal, require(Action.hazards_write)],
    session: Session,
) -> Decided:
    row = await service.reject(
        session, principal=principal, proposal_id=proposal_id, data=body, audit_context=audit_context
    )
    return Decided(proposal=Proposal.model_validate(row), hazard_id=None)
