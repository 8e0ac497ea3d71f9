from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from qzx_common.contracts.geo import code_prefix
from qzx_common.jurisdiction import ADMIN_PREFIX_PATTERN
from qzx_common.web.auth import Principal
from qzx_common.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, fetch_size, page
from qzx_common.web.permissions import Action, require
from qzx_dispatch.deps import Audit, ClockDep, Session
from qzx_dispatch.org import repository, service
from qzx_dispatch.org.board import board
from qzx_dispatch.org.models import Jurisdiction
from qzx_dispatch.org.schemas import (
    Board,
    JurisdictionIn,
    JurisdictionOut,
    OfficerIn,
    OfficerOut,
    OfficerPatch,
    Page,
    RosterIn,
    RosterOut,
    UnitIn,
    UnitOut,
    UnitPatch,
)

router = APIRouter(prefix="/v1", tags=["organisation"])
Reader = Annotated[Principal, require(Action.org_read)]
Writer = Annotated[Principal, require(Action.org_write)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Prefix = Annotated[str | None, Query(pattern=ADMIN_PREFIX_PATTERN)]


def _int_cursor(cursor: str | None) -> int | None:
    return decode_cursor(cursor, int)[0] if cursor else None


def _jout(j: Jurisdiction) -> JurisdictionOut:
    return JurisdictionOut(
        code=j.code, name=j.name, level=j.level, parent_code=j.parent_code, lat=j.lat, lon=j.lon
    )


@router.get("/jurisdictions", response_model=list[JurisdictionOut])
async def list_jurisdictions(principal: Reader, session: Session) -> list[JurisdictionOut]:
    rows = await repository.jurisdictions(session, jur=principal.jur)
    # Its own subtree, and the ancestors that name it.
    return [_jout(j) for j in rows if principal.sees(j.code) or principal.jur.startswith(code_prefix(j.code))]


@router.post("/jurisdictions", status_code=201, response_model=JurisdictionOut)
async def create_jurisdiction(
    body: JurisdictionIn, audit_context: Audit, principal: Writer, session: Session
) -> JurisdictionOut:
    return _jout(
        await service.create_jurisdiction(
            session, principal=principal, data=body, audit_context=audit_context
        )
    )


@router.get("/officers", response_model=Page[OfficerOut])
async def list_officers(
    principal: Reader,
    session: Session,
    admin_code: Prefix = None,
    kind: Annotated[str | None, Query(pattern="^(sworn|auxiliary)$")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[OfficerOut]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    rows = await repository.officers(
        session, jur=principal.jur, admin_code=admin_code, kind=kind, after=after, limit=fetch_size(limit)
    )
    rows, nxt = page(rows, limit, lambda o: encode_cursor(o.id))
    return Page[OfficerOut](items=[service.officer_out(o) for o in rows], next_cursor=nxt)


@router.post("/officers", status_code=201, response_model=OfficerOut)
async def create_officer(
    body: OfficerIn, audit_context: Audit, principal: Writer, session: Session
) -> OfficerOut:
    row = await service.create_officer(session, principal=principal, data=body, audit_context=audit_context)
    return service.officer_out(row)


@router.get("/officers/{officer_id}", response_model=OfficerOut)
async def get_officer(officer_id: str, principal: Reader, session: Session) -> OfficerOut:
    return service.officer_out(await service.get_officer(session, principal=principal, officer_id=officer_id))


@router.patch("/officers/{officer_id}", response_model=OfficerOut)
async def update_officer(
    officer_id: str,
    body: OfficerPatch,
    audit_context: Audit,
    principal: Writer,
    session: Session,
    clock: ClockDep,
) -> OfficerOut:
    row = await service.update_officer(
        session,
        principal=principal,
        officer_id=officer_id,
        data=body,
        now=clock.now(),
        audit_context=audit_context,
    )
    return service.officer_out(row)


@router.get("/units", response_model=Page[UnitOut])
async def list_units(
    principal: Reader,
    session: Session,
    admin_code: Prefix = None,
    vehicle: Annotated[str | None, Query(pattern="^(car|motorcycle|checkpoint_post)$")] = None,
    capability: Annotated[
        str | None, Query(pattern="^(breathalyser|weighing|pursuit|interception|ebike)$")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[UnitOut]:
    after = decode_cursor(cursor, str)[0] if cursor else None
    rows = await repository.units(
        session,
        jur=principal.jur,
        admin_code=admin_code,
        vehicle=vehicle,
        capability=capability,
        after=after,
        limit=fetch_size(limit),
    )
    rows, nxt = page(rows, limit, lambda u: encode_cursor(u.id))
    return Page[UnitOut](items=await service.unit_out(session, rows), next_cursor=nxt)


@router.get("/units/board", response_model=Board)
async def unit_board(
    principal: Reader, session: Session, clock: ClockDep, admin_code: Prefix = None
) -> Board:
    prefix = admin_code if admin_code and admin_code.startswith(principal.jur) else principal.jur
    return await board(session, prefix=prefix, now=clock.now())


@router.post("/units", status_code=201, response_model=UnitOut)
async def create_unit(body: UnitIn, audit_context: Audit, principal: Writer, session: Session) -> UnitOut:
    row = await service.create_unit(session, principal=principal, data=body, audit_context=audit_context)
    return (await service.unit_out(session, [row]))[0]


@router.get("/units/{unit_id}", response_model=UnitOut)
async def get_unit(unit_id: str, principal: Reader, session: Session) -> UnitOut:
    row = await service.get_unit(session, principal=principal, unit_id=unit_id)
    return (await service.unit_out(session, [row]))[0]


@router.patch("/units/{unit_id}", response_model=UnitOut)
async def update_unit(
    unit_id: str, body: UnitPatch, audit_context: Audit, principal: Writer, session: Session
) -> UnitOut:
    row = await service.update_unit(
        session, principal=principal, unit_id=unit_id, data=body, audit_context=audit_context
    )
    return (await service.unit_out(session, [row]))[0]


@router.get("/rosters", response_model=Page[RosterOut])
async def list_rosters(
    principal: Reader,
    session: Session,
    admin_code: Prefix = None,
    unit_id: str | None = None,
    on_duty_at: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page[RosterOut]:
    after = _int_cursor(cursor)
    rows = await repository.rosters(
        session,
        jur=principal.jur,
        admin_code=admin_code,
        unit_id=unit_id,
        on_duty_at=on_duty_at,
        since=since,
        until=until,
        after=after,
        limit=fetch_size(limit),
    )
    rows, nxt = page(rows, limit, lambda r: encode_cursor(r.id))
    return Page[RosterOut](items=[service.roster_out(r) for r in rows], next_cursor=nxt)


@router.post("/rosters", status_code=201, response_model=RosterOut)
async def create_roster(
    body: RosterIn, audit_context: Audit, principal: Writer, session: Session
) -> RosterOut:
    row = await service.create_roster(session, principal=principal, data=body, audit_context=audit_context)
    return service.roster_out(row)


@router.delete("/rosters/{roster_id}", status_code=204)
async def delete_roster(
    roster_id: int, audit_context: Audit, principal: Writer, session: Session
) -> Response:
    await service.delete_roster(
        session, principal=principal, roster_id=roster_id, audit_context=audit_context
    )
    return Response(status_code=204)
