"""Shift plans: demand → optimal staggered starts → rosters."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext, record
from qzx_common.contracts.geo import code_prefix
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Conflict, InvalidRequest, NotFound
from qzx_dispatch.clock import local_date, local_midnight
from qzx_dispatch.db import SCHEMA
from qzx_dispatch.org import repository as org_repository
from qzx_dispatch.org import service as org_service
from qzx_dispatch.org.models import Jurisdiction, Roster, Unit
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.shifts import demand as demand_model
from qzx_dispatch.shifts.models import ShiftPlan
from qzx_dispatch.shifts.schemas import ApplyResult, HourCoverage, PlanOut, PlanRequest, Start
from qzx_dispatch.shifts.solver import PlanInput, solve


def visible_prefix(principal: Principal, admin_code: str) -> str:
    """The part of a plan's jurisdiction the caller sees: both prefixes cover ``admin_code`` (the
    caller sees it), so the longer one is the narrower (a ``jur`` of 370100 planning 370100 reaches
    the units and history under 370100, not all of Jinan's 3701)."""
    return max(code_prefix(admin_code), principal.jur, key=len)


async def create_plan(
    session: AsyncSession,
    *,
    principal: Principal,
    data: PlanRequest,
    settings: DispatchSettings,
    now: datetime,
    audit_context: AuditContext,
) -> ShiftPlan:
    ensure_sees(principal, data.admin_code)
    if await session.get(Jurisdiction, data.admin_code) is None:
        raise InvalidRequest(f"admin_code: no jurisdiction {data.admin_code}", code="unknown_jurisdiction")
    start_date = data.start_date or local_date(now) + timedelta(days=1)
    start = local_midnight(start_date)
    layers: dict[str, list[float]] | None = None
    if data.demand is not None:
        demand, source = [math.ceil(d - 1e-9) for d in data.demand], "request"
    else:
        layers = await demand_layers(
            session,
            prefix=visible_prefix(principal, data.admin_code),
            start=start,
            now=now,
            data=data,
            settings=settings,
        )
        demand = demand_model.units_needed(
            list(layers.values()), utilisation=data.utilisation, min_units=data.min_units
        )
        source = "history"
    problem = PlanInput(
        demand=demand,
        shift_hours=data.shift_hours,
        start_hours=frozenset(data.start_hours if data.start_hours is not None else range(24)),
        min_rest_hours=data.min_rest_hours,
        head_count=data.head_count,
        max_on_duty=data.max_on_duty,
        max_per_start=data.max_per_start,
        cyclic=data.cyclic,
    )
    result = await asyncio.to_thread(solve, problem)
    plan_id = "SP" + uuid.uuid4().hex[:20]
    body: dict[str, Any] = {
        "start_date": start_date.isoformat(),
        "hours": len(demand),
        "shift_hours": data.shift_hours,
        "status": result.status,
        "demand_source": source,
        "unit_hours": result.unit_hours,
        "starts": [{"hour": h, "units": k} for h, k in sorted(result.starts.items())],
        "coverage": [
            {"hour": h, "demand": d, "covered": c}
            | ({k: round(v[h] / data.utilisation, 3) for k, v in layers.items()} if layers else {})
            for h, (d, c) in enumerate(zip(demand, result.coverage, strict=True))
        ],
        "uncovered_hours": result.uncovered_hours,
        "shortfall_unit_hours": sum(result.shortfall),
        "solve_ms": round(result.solve_ms, 1),
        "min_rest_hours": data.min_rest_hours,
    }
    row = ShiftPlan(
        id=plan_id,
        admin_code=data.admin_code,
        created_by=principal.sub,
        request=data.model_dump(mode="json"),
        result=body,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="shift_plan.create",
        target_type="shift_plan",
        target_id=plan_id,
        admin_code=org_service.audit_scope(data.admin_code),
        after={
            "admin_code": data.admin_code,
            "unit_hours": result.unit_hours,
            "uncovered_hours": len(result.uncovered_hours),
        },
    )
    return row


async def demand_layers(
    session: AsyncSession,
    *,
    prefix: str,
    start: datetime,
    now: datetime,
    data: PlanRequest,
    settings: DispatchSettings,
) -> dict[str, list[float]]:
    """The demand's two layers in unit-hours per hour, each already weighted (shifts.demand)."""
    weeks = settings.history_weeks
    counts = await demand_model.history(session, prefix=prefix, until=now, weeks=weeks)
    weights = demand_model.AccidentWeights(
        unit_hours=settings.accident_unit_hours,
        rural_peak_hours=frozenset(settings.rural_peak_hours),
        rural_peak_factor=settings.rural_peak_factor,
        market_days=frozenset(settings.market_days),
    )
    accidents = await demand_model.accident_history(
        session, prefix=prefix, until=now, weeks=weeks, market_days=weights.market_days
    )
    load = demand_model.violation_load(
        counts, start=start, hours=data.hours, weeks=weeks, handling=data.handling_hours
    )
    risk = demand_model.accident_risk(accidents, start=start, hours=data.hours, weights=weights)
    return {
        "violations": [settings.demand_violation_weight * x for x in load],
        "accidents": [settings.demand_accident_weight * x for x in risk],
    }


def plan_out(row: ShiftPlan) -> PlanOut:
    r = row.result
    start = local_midnight(datetime.fromisoformat(r["start_date"]).date())

    def at(hour: int) -> datetime:
        return start + timedelta(hours=hour)

    return PlanOut(
        id=row.id,
        admin_code=row.admin_code,
        start_date=start.date(),
        hours=r["hours"],
        shift_hours=r["shift_hours"],
        status=r["status"],
        demand_source=r["demand_source"],
        unit_hours=r["unit_hours"],
        starts=[Start(hour=s["hour"], at=at(s["hour"]), units=s["units"]) for s in r["starts"]],
        coverage=[
            HourCoverage(
                hour=c["hour"],
                at=at(c["hour"]),
                demand=c["demand"],
                covered=c["covered"],
                violations=c.get("violations"),
                accidents=c.get("accidents"),
            )
            for c in r["coverage"]
        ],
        uncovered_hours=r["uncovered_hours"],
        shortfall_unit_hours=r["shortfall_unit_hours"],
        solve_ms=r["solve_ms"],
        plot_url=f"/v1/shift-plans/{row.id}/plot.png",
        created_at=row.created_at,
        applied_at=row.applied_at,
    )


async def get_plan(
    session: AsyncSession, *, principal: Principal, plan_id: str, lock: bool = False
) -> ShiftPlan:
    row = await session.get(ShiftPlan, plan_id, with_for_update=lock)
    if row is None or not principal.sees(row.admin_code):
        raise NotFound(f"no shift plan {plan_id!r}", code="plan_not_found")
    return row


async def apply_plan(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: str,
    now: datetime,
    audit_context: AuditContext,
) -> ApplyResult:
    """Turn the plan's starts into rosters for the jurisdiction's enforcing units that the caller
    sees (a sworn officer among the members), each unit at most one shift per shift + rest window."""
    row = await get_plan(session, principal=principal, plan_id=plan_id, lock=True)
    if row.applied_at is not None:
        raise Conflict(f"plan {plan_id} was applied at {row.applied_at.isoformat()}", code="plan_applied")
    plan = plan_out(row)
    length = timedelta(hours=plan.shift_hours)
    rest = timedelta(hours=row.result.get("min_rest_hours", 12))
    units = await _enforcing_units(session, prefix=visible_prefix(principal, row.admin_code))
    horizon = (
        (plan.starts[0].at - length - rest, plan.starts[-1].at + length + rest) if plan.starts else (now, now)
    )
    busy: dict[str, list[tuple[datetime, datetime]]] = {u.id: [] for u in units}
    existing = await session.scalars(
        select(Roster).where(
            Roster.unit_id.in_(list(busy)), Roster.ends_at > horizon[0], Roster.starts_at < horizon[1]
        )
    )
    for r in existing:
        busy[r.unit_id].append((r.starts_at, r.ends_at))
    created: list[int] = []
    unfilled: list[Start] = []
    for start in plan.starts:
        begins, ends = start.at, start.at + length
        free = [u for u in units if all(e + rest <= begins or ends + rest <= s for s, e in busy[u.id])]
        free.sort(key=lambda u: (max((e for _, e in busy[u.id]), default=horizon[0]), u.id))
        placed = 0
        for unit in free:
            if placed == start.units:
                break
            try:
                roster = await org_service.add_roster(
                    session,
                    unit=unit,
                    starts_at=begins,
                    ends_at=ends,
                    crew_ids=None,  # the unit's own active members
                    source=f"plan:{plan_id}",
                    principal=None,
                )
            except (Conflict, InvalidRequest):
                continue  # crew booked elsewhere: try the next unit
            busy[unit.id].append((begins, ends))
            created.append(roster.id)
            placed += 1
        if placed < start.units:
            unfilled.append(Start(hour=start.hour, at=start.at, units=start.units - placed))
    row.applied_at = now
    await record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="shift_plan.apply",
        target_type="shift_plan",
        target_id=plan_id,
        admin_code=org_service.audit_scope(row.admin_code),
        after={"rosters_created": len(created), "unfilled": sum(s.units for s in unfilled)},
    )
    return ApplyResult(plan_id=plan_id, rosters_created=len(created), roster_ids=created, unfilled=unfilled)


async def _enforcing_units(session: AsyncSession, *, prefix: str) -> list[Unit]:
    q = (
        select(Unit)
        .where(
            Unit.admin_code.startswith(prefix), Unit.vehicle != "checkpoint_post", Unit.status == "available"
        )
        .order_by(Unit.id)
        .with_for_update()
    )
    units = list((await session.scalars(q)).all())
    crews = await org_repository.members(session, [u.id for u in units])
    return [u for u in units if any(o.kind == "sworn" and o.active for o in crews[u.id])]
