"""Black-spot analysis as a background job, and the person's decision on each proposal: confirming
a new one (增量) makes it a hazard in state ``identified``; confirming one that matches a known
hazard (存量) adds its accidents to that hazard's history. Every write is audited."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from qzx_alerts.blackspots import analysis, repository
from qzx_alerts.blackspots.analysis import Cluster, KnownHazard, Params
from qzx_alerts.blackspots.models import ProposalRow, RunRow
from qzx_alerts.blackspots.schemas import Confirmation, Proposal, Rejection, Run, RunIn
from qzx_alerts.db import SCHEMA
from qzx_alerts.hazards import service as hazards
from qzx_alerts.hazards.models import HazardRow
from qzx_alerts.hazards.schemas import HazardIn
from qzx_common import audit
from qzx_common.audit import AuditContext
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Conflict, Forbidden, NotFound

log = logging.getLogger(__name__)
ACCIDENT_IDS_KEPT = 200  # a proposal lists at most this many of its accidents


def _run_snapshot(row: RunRow) -> dict[str, object]:
    return Run.model_validate(row).model_dump(mode="json")


def _proposal_snapshot(row: ProposalRow) -> dict[str, object]:
    return Proposal.model_validate(row).model_dump(mode="json")


COUNTY_CODE_LEN = 6  # 37 (province), 4 digits a city, 6 a county; townships 9, villages 12


async def request_run(
    session: AsyncSession, *, principal: Principal, data: RunIn, audit_context: AuditContext
) -> RunRow:
    if len(principal.jur) > COUNTY_CODE_LEN:
        # Accident facts carry county codes: below the county a run has nothing of its own to
        # analyse. The county confirms and assigns; the township and village see the hazard then.
        raise Forbidden(
            "事故多发点分析由县级及以上开展 / black-spot analysis is a county-and-above tool",
            code="blackspots_county_and_above",
        )
    ensure_sees(principal, data.admin_code)
    now = datetime.now(UTC)
    row = RunRow(
        id=f"bsr-{now:%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}",
        admin_prefix=data.admin_code,
        period_from=data.since,
        period_to=data.until,
        status="queued",
        progress=0.0,
        stage="queued",
        params=asdict(Params(eps_m=data.eps_m, min_accidents=data.min_accidents, min_days=data.min_days)),
        requested_by=principal.sub,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="blackspot.run",
        target_type="blackspot_run",
        target_id=row.id,
        after=_run_snapshot(row),
        admin_code=row.admin_prefix,
    )
    return row


async def visible_run(session: AsyncSession, *, principal: Principal, run_id: str) -> RunRow:
    row = await repository.get_run(session, run_id)
    if row is None or not principal.sees(row.admin_prefix):
        raise NotFound(f"no black-spot run with id {run_id!r}", code="blackspot_run_not_found")
    return row


def proposals_of(run_id: str, clusters: list[Cluster], known: list[KnownHazard]) -> list[dict[str, Any]]:
    """The run's proposals ranked by accidents, then deaths; each matched to a known hazard or new."""
    ranked = sorted(clusters, key=lambda c: (-len(c.accidents), -c.killed, -c.violations))
    rows = []
    for rank, c in enumerate(ranked, start=1):
        hazard = analysis.match(c, known)
        when = sorted(a.occurred_at for a in c.accidents)
        rows.append(
            {
                "id": f"{run_id}-{rank:04d}",
                "run_id": run_id,
                "admin_code": c.admin_code,
                "lat": round(c.lat, 6),
                "lon": round(c.lon, 6),
                "radius_m": round(c.radius_m, 1),
                "accidents": len(c.accidents),
                "injured": c.injured,
                "killed": c.killed,
                "violations": c.violations,
                "first_at": when[0],
                "last_at": when[-1],
                "accident_ids": sorted(a.accident_id for a in c.accidents)[:ACCIDENT_IDS_KEPT],
                "ledger": "stock" if hazard else "new",
                "hazard_id": hazard.id if hazard else None,
                "decision": "pending",
            }
        )
    return rows


async def execute(engine: AsyncEngine, run_id: str) -> None:
    """Run one analysis, its progress and outcome on the run's row (a failure is recorded there)."""
    try:
        async with engine.begin() as conn:
            run = (await conn.execute(select(RunRow).where(RunRow.id == run_id))).one()
            await repository.set_progress(conn, run_id, status="running", progress=0.05, stage="loading")
        period = {"prefix": run.admin_prefix, "since": run.period_from, "until": run.period_to}
        async with engine.connect() as conn:
            accidents = await repository.accidents(conn, **period)
            cells = await repository.cells(conn, **period)
            known = await repository.known_hazards(conn, prefix=run.admin_prefix)
        async with engine.begin() as conn:
            await repository.set_progress(
                conn,
                run_id,
                progress=0.4,
                stage="clustering",
                accidents=len(accidents),
                violation_cells=len(cells),
            )
        params = Params(**run.params)
        clusters = await asyncio.to_thread(analysis.find, accidents, cells, params)  # CPU: off the loop
        rows = proposals_of(run_id, clusters, known)
        async with engine.begin() as conn:
            await repository.add_proposals(conn, rows)
            await repository.set_progress(
                conn,
                run_id,
                status="done",
                progress=1.0,
                stage="done",
                proposals=len(rows),
                finished_at=datetime.now(UTC),
            )
    except Exception as exc:
        log.exception("black-spot analysis failed", extra={"run_id": run_id})
        async with engine.begin() as conn:
            await repository.set_progress(
                conn,
                run_id,
                status="failed",
                stage="failed",
                error=str(exc)[:2000],
                finished_at=datetime.now(UTC),
            )


class ProposalDecided(Conflict):
    code = "proposal_decided"


async def _pending(session: AsyncSession, *, principal: Principal, proposal_id: str) -> ProposalRow:
    row = await repository.get_proposal(session, proposal_id)
    if row is None or not principal.sees(row.admin_code):
        raise NotFound(f"no black-spot proposal with id {proposal_id!r}", code="proposal_not_found")
    if row.decision != "pending":
        raise ProposalDecided(f"proposal {proposal_id} is {row.decision} already")
    return row


def _evidence(row: ProposalRow) -> dict[str, object]:
    return {
        "proposal_id": row.id,
        "run_id": row.run_id,
        "accidents": row.accidents,
        "injured": row.injured,
        "killed": row.killed,
        "violations": row.violations,
        "first_at": row.first_at.isoformat(),
        "last_at": row.last_at.isoformat(),
        "accident_ids": row.accident_ids,
    }


async def confirm(
    session: AsyncSession,
    *,
    principal: Principal,
    proposal_id: str,
    data: Confirmation,
    audit_context: AuditContext,
) -> tuple[ProposalRow, HazardRow]:
    row = await _pending(session, principal=principal, proposal_id=proposal_id)
    before = _proposal_snapshot(row)
    known = await session.get(HazardRow, row.hazard_id, with_for_update=True) if row.hazard_id else None
    if known is not None:
        hazard = await hazards.add_evidence(
            session, row=known, actor=principal.sub, note=data.note, detail=_evidence(row)
        )
    else:  # new, or the matched hazard was deleted since: the black spot is a new hazard
        name = data.name or f"事故多发点 black spot {row.lat:.4f}, {row.lon:.4f}"
        found = HazardIn(
            name=name,
            lat=row.lat,
            lon=row.lon,
            radius_m=max(10.0, min(5000.0, row.radius_m)),
            risk_level=data.risk_level,
            status="new",
            admin_code=row.admin_code,
            note=data.note,
            hazard_type=data.hazard_type,
        )
        hazard = await hazards.identify(session, data=found, actor=principal.sub, detail=_evidence(row))
    row.decision = "confirmed"
    row.hazard_id = hazard.id
    _decided(row, principal, data.note)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="blackspot.confirm",
        target_type="blackspot_proposal",
        target_id=row.id,
        before=before,
        after=_proposal_snapshot(row) | {"hazard": hazards.snapshot(hazard)},
        admin_code=row.admin_code,
    )
    return row, hazard


async def reject(
    session: AsyncSession,
    *,
    principal: Principal,
    proposal_id: str,
    data: Rejection,
    audit_context: AuditContext,
) -> ProposalRow:
    row = await _pending(session, principal=principal, proposal_id=proposal_id)
    before = _proposal_snapshot(row)
    row.decision = "rejected"
    _decided(row, principal, data.note)
    await session.flush()
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="blackspot.reject",
        target_type="blackspot_proposal",
        target_id=row.id,
        before=before,
        after=_proposal_snapshot(row),
        admin_code=row.admin_code,
    )
    return row


def _decided(row: ProposalRow, principal: Principal, note: str | None) -> None:
    row.decided_by = principal.sub
    row.decided_at = datetime.now(UTC)
    row.note = note
