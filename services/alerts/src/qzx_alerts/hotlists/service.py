"""Hotlists: plates wanted by a unit, the province or the ministry. An entry is identified by
(source, owning admin code, plate), so that re-sending a list (console or exchange) updates instead
of duplicating, and two cities may each list the same plate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from qzx_alerts.db import SCHEMA
from qzx_alerts.hotlists import repository
from qzx_alerts.hotlists.models import HotlistRow
from qzx_alerts.hotlists.schemas import HotlistEntry, HotlistIn
from qzx_common import audit
from qzx_common.audit import AuditContext
from qzx_common.contracts.alerts import Priority
from qzx_common.web.auth import Principal, ensure_sees
from qzx_common.web.errors import Forbidden, InvalidRequest, NotFound

_ID_SPACE = uuid.UUID("0b7c33e4-1f6d-4d8e-b3a5-6c2e9f41a7d2")
CONSOLE = "console"  # the source of every entry made through the API (exchange: exchange:<key id>)
_FIELDS = ("plate_color", "priority", "reason", "covert", "expires_at", "admin_code")


def entry_id(source: str, owner: str, plate: str) -> str:
    return str(uuid.uuid5(_ID_SPACE, f"{source}|{owner}|{plate}"))


def owner_code(jur: str) -> str:
    """The admin code a jurisdiction prefix owns entries under ("3701" → "370100")."""
    return jur.ljust(6, "0")


def covering_scopes(jur: str) -> list[str]:
    """Owner codes above ``jur`` whose entries apply to it (province and city entries)."""
    return [jur[:n].ljust(6, "0") for n in (2, 4) if n < len(jur)]


def view(row: HotlistRow, principal: Principal, *, now: datetime | None = None) -> HotlistEntry:
    hidden = row.covert and not principal.is_commander
    now = now or datetime.now(UTC)
    return HotlistEntry(
        id=row.id,
        plate=row.plate,
        plate_color=row.plate_color,
        priority=Priority(row.priority),
        covert=row.covert,
        admin_code=row.admin_code,
        expires_at=row.expires_at,
        active=row.expires_at is None or row.expires_at > now,
        created_at=row.created_at,
        updated_at=row.updated_at,
        reason=None if hidden else row.reason,
        source=None if hidden else row.source,
        created_by=None if hidden else row.created_by,
    )


def _snapshot(row: HotlistRow) -> dict[str, object]:
    return {"plate": row.plate, "source": row.source, **{f: getattr(row, f) for f in _FIELDS}}


@dataclass
class MergeResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def merge_hotlist_entries(
    session: AsyncSession,
    *,
    source: str,
    entries: Sequence[HotlistIn],
    created_by: str,
    admin_code: str = "370000",
) -> MergeResult:
    """Upsert entries by (source, owner, plate), idempotently: a repeated entry changes nothing.
    ``admin_code`` owns entries that name none. The caller checks the source's scope and writes the
    audit record (this is shared by the console and the exchange, POST /v1/exchange/hotlists)."""
    result = MergeResult()
    # The last word on an (owner, plate) within one request.
    latest = {(e.admin_code or admin_code, e.plate): e for e in entries}
    existing = await repository.by_ids(session, [entry_id(source, o, p) for o, p in latest])
    now = datetime.now(UTC)
    for (owner, plate), e in sorted(latest.items()):
        values = {
            "plate_color": e.plate_color.value if e.plate_color else None,
            "priority": e.priority.value,
            "reason": e.reason,
            "covert": e.covert,
            "expires_at": e.expires_at,
            "admin_code": owner,
        }
        row = existing.get(entry_id(source, owner, plate))
        if row is None:
            row = HotlistRow(
                id=entry_id(source, owner, plate),
                plate=plate,
                source=source,
                created_by=created_by,
                created_at=now,
                updated_at=now,
                **values,
            )
            session.add(row)
            result.created.append(row.id)
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = now
            result.updated.append(row.id)
        else:
            result.unchanged.append(row.id)
    await session.flush()
    return result


async def put_entry(
    session: AsyncSession, *, principal: Principal, entry: HotlistIn, audit_context: AuditContext
) -> tuple[HotlistRow, bool]:
    """Create or update one entry from the console; returns it and whether it was created."""
    owner = entry.admin_code or owner_code(principal.jur)
    ensure_sees(principal, owner)
    if entry.expires_at is not None and entry.expires_at <= datetime.now(UTC):
        raise InvalidRequest("expires_at: must be in the future", code="invalid_request")
    before = await repository.get(session, entry_id(CONSOLE, owner, entry.plate))
    snapshot = _snapshot(before) if before else None
    result = await merge_hotlist_entries(
        session, source=CONSOLE, entries=[entry], created_by=principal.sub, admin_code=owner
    )
    row = await repository.get(session, entry_id(CONSOLE, owner, entry.plate))
    assert row is not None
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hotlist.create" if result.created else "hotlist.update",
        target_type="hotlist",
        target_id=row.id,
        before=snapshot,
        after=_snapshot(row),
        admin_code=row.admin_code,
    )
    return row, bool(result.created)


async def delete_entry(
    session: AsyncSession, *, principal: Principal, entry_id: str, audit_context: AuditContext
) -> None:
    row = await repository.get(session, entry_id)
    if row is None or not (
        principal.sees(row.admin_code) or row.admin_code in covering_scopes(principal.jur)
    ):
        raise NotFound(f"no hotlist entry with id {entry_id!r}", code="hotlist_entry_not_found")
    if not principal.sees(row.admin_code):
        raise Forbidden("entries of a higher jurisdiction are managed there", code="out_of_jurisdiction")
    await audit.record(
        session,
        schema=SCHEMA,
        context=audit_context,
        action="hotlist.delete",
        target_type="hotlist",
        target_id=row.id,
        before=_snapshot(row),
        admin_code=row.admin_code,
    )
    await session.delete(row)
