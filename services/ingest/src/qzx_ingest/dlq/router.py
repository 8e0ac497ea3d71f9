from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qzx_common.web.auth import Principal
from qzx_common.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from qzx_common.web.permissions import Action, require
from qzx_ingest.deps import Session
from qzx_ingest.dlq import repository
from qzx_ingest.dlq.schemas import DeadLetter, DeadLetterList

router = APIRouter(prefix="/v1/dlq", tags=["dead letters"])


@router.get("", response_model=DeadLetterList)
async def list_dead_letters(
    principal: Annotated[Principal, require(Action.dlq_read)],
    session: Session,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DeadLetterList:
    after_id = decode_cursor(cursor, int)[0] if cursor else None
    rows = await repository.search(session, after_id=after_id, limit=limit + 1)
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    items = [
        DeadLetter(
            id=r.id,
            source=r.source,
            partition=r.source_partition,
            offset=r.source_offset,
            key=r.key.decode(errors="replace") if r.key is not None else None,
            raw=r.raw.decode(errors="replace"),
            error=r.error,
            received_at=r.received_at,
        )
        for r in rows[:limit]
    ]
    return DeadLetterList(items=items, next_cursor=next_cursor)
