"""The dead-letter read API over a service's ``dead_letters`` table: one line per service,
``app.include_router(dead_letter_router(SCHEMA))`` → ``GET /v1/dlq``. What a consumer could not
apply or a relay could not publish, newest first, with its reason and where it came from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import MetaData

from qzx_common.kafka.deadletter import dead_letters_table, search
from qzx_common.web.auth import Principal
from qzx_common.web.openapi import AUTHENTICATED
from qzx_common.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, fetch_size, page
from qzx_common.web.permissions import Action, require


class DeadLetter(BaseModel):
    id: int
    source: str
    partition: int | None
    offset: int | None
    consumer: str | None
    key: str | None
    raw: str
    error: str
    received_at: datetime


class DeadLetterList(BaseModel):
    items: list[DeadLetter]
    next_cursor: str | None


def dead_letter_router(schema: str) -> APIRouter:
    router = APIRouter(prefix="/v1/dlq", tags=["dead letters"])
    table = dead_letters_table(MetaData(schema=schema))

    @router.get("", response_model=DeadLetterList, responses=AUTHENTICATED)
    async def list_dead_letters(
        request: Request,
        principal: Annotated[Principal, require(Action.dlq_read)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> DeadLetterList:
        """Newest first: the raw message (undecodable bytes shown as U+FFFD), the reason, and the
        topic, partition, offset and consumer it came from."""
        after_id = _after_id(cursor)
        async with request.app.state.runtime.sessions() as session:
            rows = await search(session, table=table, after_id=after_id, limit=fetch_size(limit))
        kept, next_cursor = page(rows, limit, lambda r: encode_cursor(r.id))
        items = [
            DeadLetter(
                id=r.id,
                source=r.source,
                partition=r.partition,
                offset=r.offset,
                consumer=r.consumer,
                key=r.key.decode(errors="replace") if r.key is not None else None,
                raw=r.raw.decode(errors="replace"),
                error=r.error,
                received_at=r.received_at,
            )
            for r in kept
        ]
        return DeadLetterList(items=items, next_cursor=next_cursor)

    return router


def _after_id(cursor: str | None) -> int | None:
    return decode_cursor(cursor, int)[0] if cursor else None
