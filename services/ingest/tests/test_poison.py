"""No record stops a partition: unusual but parseable input, and a record the database refuses for
a reason nobody listed, end dead-lettered with a reason while every valid event around them is
stored; the exchange answers one rejected item instead of a 500. Over the real broker and database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from qzx_common.db import create_engine
from qzx_common.settings import to_asyncpg_url
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.samples import make_event
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def stored_ids(client: httpx.AsyncClient, tag: str) -> set[str]:
    items = (await client.get("/v1/violations", params={"limit": 500})).json()["items"]
    return {i["event_id"] for i in items if i["event_id"].startswith(tag)}


async def dead_letters(client: httpx.AsyncClient, tag: str) -> list[dict[str, Any]]:
    items = (await client.get("/v1/dlq", params={"limit": 500})).json()["items"]
    return [d for d in items if tag in d["raw"]]


async def send(stack: Stack, producer: Any, values: list[bytes]) -> None:
    for value in values:  # one key: one partition, so the bad ones stand in front of the valid
        await producer.send(stack.topic_prefix + CAMERA_VIOLATIONS, value, key=b"370102-BC-0003")
    await producer.flush()


async def test_unusual_input_in_front_of_valid_events_is_dead_lettered_and_the_rest_stored(
    stack: Stack, producer: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    nul_field = make_event(event_id=f"{tag}-nul-field")
    nul_field["x\u0000y"] = 1
    unusual = {
        f"{tag}-offset-16": make_event(event_id=f"{tag}-offset-16", captured_at="2026-11-28T20:15:02+16:00"),
        f"{tag}-offset-19": make_event(event_id=f"{tag}-offset-19", captured_at="2026-11-28T20:15:02+19:59"),
        f"{tag}-offset-23": make_event(event_id=f"{tag}-offset-23", captured_at="2026-11-28T20:15:02-23:59"),
        f"{tag}-year-1": make_event(event_id=f"{tag}-year-1", captured_at="0001-01-01T00:00:00+14:00"),
        f"{tag}-nul-field": nul_field,
    }
    valid = [make_event(event_id=f"{tag}-ok-{i}") for i in range(20)]
    await send(
        stack, producer, [orjson.dumps(e) for e in unusual.values()] + [orjson.dumps(e) for e in valid]
    )

    async def all_settled() -> bool:
        return len(await dead_letters(client, tag)) == len(unusual)

    await eventually(all_settled, timeout=30)
    assert await stored_ids(client, tag) == {e["event_id"] for e in valid}
    reasons = {
        orjson.loads(d["raw"].encode())["event_id"]: d["error"] for d in await dead_letters(client, tag)
    }
    assert set(reasons) == set(unusual)
    for name in ("offset-16", "offset-19", "offset-23"):
        assert "UTC offset must be between -12:00 and +14:00" in reasons[f"{tag}-{name}"]
    assert "before 1970" in reasons[f"{tag}-year-1"]
    assert reasons[f"{tag}-nul-field"] == "x\\u0000y: unknown field"  # stored, with the NUL escaped
    letter = (await dead_letters(client, tag))[0]
    assert letter["source"] == CAMERA_VIOLATIONS and letter["consumer"] == "qzx-ingest"


@pytest.fixture
async def refuse_event(ingest: Any, stack: Stack) -> Any:
    """A database that refuses one event id, for a reason no validation knows of (a trigger, made
    as the owner: the service's role may not)."""
    engine = create_engine(to_asyncpg_url(stack.database_url), pool_size=1)
    name = f"refuse_{uuid.uuid4().hex[:8]}"
    refused: list[str] = []

    async def refuse(event_id: str) -> None:
        refused.append(event_id)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    f"CREATE FUNCTION ingest.{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.event_id = '{event_id}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            await conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE INSERT ON ingest.violations FOR EACH ROW EXECUTE FUNCTION ingest.{name}()"
                )
            )

    yield refuse
    if refused:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {name} ON ingest.violations"))
            await conn.execute(text(f"DROP FUNCTION ingest.{name}()"))
    await engine.dispose()


async def test_a_record_the_database_refuses_is_isolated_and_dead_lettered(
    stack: Stack, producer: Any, client: httpx.AsyncClient, refuse_event: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    events = [make_event(event_id=f"{tag}-{i:02d}") for i in range(40)]
    poison = events[17]["event_id"]
    await refuse_event(poison)
    await send(stack, producer, [orjson.dumps(e) for e in events])

    async def settled() -> bool:
        return len(await stored_ids(client, tag)) == len(events) - 1 and bool(await dead_letters(client, tag))

    await eventually(settled, timeout=30)
    [letter] = await dead_letters(client, tag)
    assert orjson.loads(letter["raw"].encode())["event_id"] == poison
    assert "refused by the test" in letter["error"] and letter["offset"] is not None
    assert poison not in await stored_ids(client, tag)


async def test_an_exchange_item_the_database_refuses_is_one_rejected_entry(
    ingest: Any, refuse_event: Any
) -> None:
    from qzx_common.audit import AuditContext
    from qzx_common.web.exchange import Partner
    from qzx_ingest.exchange.service import receive_violations

    tag = uuid.uuid4().hex[:8]
    events = [make_event(event_id=f"{tag}-{i}") for i in range(5)]
    await refuse_event(events[2]["event_id"])
    rt = ingest.state.runtime
    partner = Partner(key_id="ministry", secret="s" * 32, admin_prefix="37")
    async with rt.engine.begin() as conn:
        result = await receive_violations(
            conn,
            partner=partner,
            events=events,
            topic_prefix=rt.settings.topic_prefix,
            audit_context=AuditContext(actor="exchange:ministry"),
        )
    assert (result.accepted, [r.index for r in result.rejected]) == (4, [2])
    assert "refused by the test" in result.rejected[0].error
