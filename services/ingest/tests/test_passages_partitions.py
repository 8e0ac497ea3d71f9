"""A valid passage whose day has no partition (the upkeep failed, a day dropped by hand) is stored in
a partition created for it, never dead-lettered: over the real broker and database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from qzx_common.settings import to_plain_url
from qzx_dev.samples import make_passage
from qzx_dev.testing import Stack, eventually
from qzx_ingest.passages import service

from .test_passages import plate_of, send, trajectory

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def drop_day(stack: Stack, day: Any) -> None:
    """As the schema's owner: the service role could not."""
    conn = await asyncpg.connect(to_plain_url(stack.database_url))
    try:
        await conn.execute(f"DROP TABLE ingest.passages_p{day:%Y%m%d}")
    finally:
        await conn.close()


async def dead_letters_of(stack: Stack, tag: str) -> int:
    conn = await asyncpg.connect(to_plain_url(stack.database_url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM ingest.dead_letters WHERE position($1::bytea in raw) > 0", tag.encode()
            )
        )
    finally:
        await conn.close()


async def test_a_passage_for_a_day_without_its_partition_is_stored_not_dead_lettered(
    stack: Stack, producer: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    plate = plate_of(int(tag[:4], 16) % 100000 + 7)
    noon = datetime.combine(service.today(), datetime.min.time(), service.ZONE) + timedelta(hours=12)
    known, unseen = noon - timedelta(days=3), noon - timedelta(days=4)

    # The consumer has stored into the day before it is dropped: it believes the day is there.
    first = make_passage(passage_id=f"{tag}-first", plate=plate, captured_at=known.astimezone(UTC))
    await send(stack, producer, [orjson.dumps(first)])
    await eventually(lambda: _count(client, plate, 1))
    await drop_day(stack, known.date())
    await drop_day(stack, unseen.date())

    later = [
        make_passage(
            passage_id=f"{tag}-{i}", plate=plate, captured_at=at.astimezone(UTC) + timedelta(minutes=i)
        )
        for i, at in enumerate([known, unseen, known])
    ]
    await send(stack, producer, [orjson.dumps(later[0])])  # alone: a batch of one is never split
    await send(stack, producer, [orjson.dumps(p) for p in later[1:]])
    await eventually(lambda: _count(client, plate, len(later)))
    assert {p["passage_id"] for p in await trajectory(client, plate)} == {p["passage_id"] for p in later}
    assert await dead_letters_of(stack, tag) == 0


async def _count(client: httpx.AsyncClient, plate: str, want: int) -> bool:
    return len(await trajectory(client, plate)) >= want
