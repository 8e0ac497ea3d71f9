"""The auditors' read API over a service's append-only ``audit_log``: one line per service,
``app.include_router(audit_router(SCHEMA))`` → ``GET /v1/audit``.

Scope: an entry belongs to the target's ``admin_code`` (or, when the writer gave none, to the
actor's ``jur``); a caller sees the entries of its own jurisdiction, and only province-wide callers
see system and exchange entries that carry neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import text

from qzx_common.web.auth import Principal
from qzx_common.web.openapi import AUTHENTICATED
from qzx_common.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, fetch_size, page
from qzx_common.web.permissions import Action, require


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str | None
    unit_id: str | None
    jur: str | None
    action: str
    target_type: str
    target_id: str
    admin_code: str | None
    before: Any
    after: Any
    request_id: str | None
    client_addr: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


def audit_router(schema: str) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])
    columns = ", ".join(AuditEntry.model_fields)

    @router.get("", response_model=AuditPage, responses=AUTHENTICATED)
    async def search_audit_log(
        request: Request,
        principal: Annotated[Principal, require(Action.audit_read)],
        actor: Annotated[str | None, Query(max_length=128)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        target_type: Annotated[str | None, Query(max_length=32)] = None,
        target_id: Annotated[str | None, Query(max_length=128)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> AuditPage:
        """Newest first; filter by person (``actor``), target and time (``since`` ≤ at < ``until``)."""
        where = ["(coalesce(admin_code, jur) LIKE :jur OR (admin_code IS NULL AND jur IS NULL AND :all))"]
        params: dict[str, Any] = {
            "jur": principal.jur + "%",
            "all": principal.covers_province,
            "limit": fetch_size(limit),
        }
        for name, value in (
            ("actor", actor),
            ("action", action),
            ("target_type", target_type),
            ("target_id", target_id),
        ):
            if value is not None:
                where.append(f"{name} = :{name}")
                params[name] = value
        if since is not None:
            where.append("at >= :since")
            params["since"] = since
        if until is not None:
            where.append("at < :until")
            params["until"] = until
        if cursor:
            (after,) = decode_cursor(cursor, int)
            where.append("id < :after")
            params["after"] = after
        sql = (
            f'SELECT {columns} FROM "{schema}".audit_log WHERE {" AND ".join(where)} '
            "ORDER BY id DESC LIMIT :limit"
        )
        async with request.app.state.runtime.engine.connect() as conn:
            rows = (await conn.execute(text(sql), params)).mappings().all()
        kept, next_cursor = page(rows, limit, lambda r: encode_cursor(r["id"]))
        items = [AuditEntry.model_validate(dict(r)) for r in kept]
        return AuditPage(items=items, next_cursor=next_cursor)

    return router
