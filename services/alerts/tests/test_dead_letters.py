"""What the alerts consumers cannot read is dead-lettered, on ``<input topic>.dlq`` and through
``GET /v1/dlq``, and the valid events around it are scored. Over the real broker and database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from qzx_common.topics import DISPATCH_TASKS, VIOLATIONS_ACCEPTED, dlq_topic
from qzx_dev.testing import Stack, eventually, read_topic

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def letters(client: httpx.AsyncClient, tag: str) -> list[dict[str, Any]]:
    items = (await client.get("/v1/dlq", params={"limit": 500})).json()["items"]
    return [d for d in items if tag in d["raw"]]


async def test_unreadable_input_is_dead_lettered_and_the_valid_events_scored(
    stack: Stack, producer: Any, alerts: Any, make: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    plate = make.plate()
    topic = stack.topic_prefix + VIOLATIONS_ACCEPTED
    await producer.send(topic, f'{{"not an event": "{tag}"}}'.encode(), key=plate.encode())
    await producer.send(topic, make.accepted(event_id=f"{tag}-ok", plate=plate), key=plate.encode())
    await producer.send(stack.topic_prefix + DISPATCH_TASKS, f"task {tag}".encode(), key=b"T-1")
    await producer.flush()

    async def scored() -> list[dict[str, Any]]:
        items = (await client.get("/v1/alerts", params={"plate": plate})).json()["items"]
        return items if items and len(await letters(client, tag)) == 2 else []

    (alert,) = await eventually(scored, timeout=30)
    assert alert["event_ids"] == [f"{tag}-ok"]
    by_source = {d["source"]: d for d in await letters(client, tag)}
    # The accepted topic has two readers, scoring and the black-spot cells: the record is one dead
    # letter (its identity is its position and digest, docs/decisions/0011), set aside by the
    # reader that met it first, with that reader's reason.
    accepted = by_source[VIOLATIONS_ACCEPTED]
    assert (accepted["consumer"], accepted["error"].split(":")[0]) in {
        ("qzx-alerts", "unreadable accepted event"),
        ("qzx-alerts-blackspots", "not an accepted violation event"),
    }
    assert by_source[DISPATCH_TASKS]["consumer"] == "qzx-alerts-tasks"
    assert "not a Task" in by_source[DISPATCH_TASKS]["error"]

    records = await read_topic(stack.bootstrap, stack.topic_prefix + dlq_topic(VIOLATIONS_ACCEPTED), want=1)
    mine = [r for r in records if tag.encode() in r.value]
    headers = {k: v.decode() for k, v in mine[0].headers}
    assert len(mine) == 1, "one dead letter for the record, whichever reader set it aside"
    assert (
        headers["qzx-source-topic"] == VIOLATIONS_ACCEPTED and headers["qzx-consumer"] == accepted["consumer"]
    )
    assert int(headers["qzx-source-offset"]) == accepted["offset"]
    assert headers["qzx-source-partition"] == str(accepted["partition"])


async def test_only_province_wide_callers_read_the_dead_letters(client_for: Any) -> None:
    """Raw dead letters carry admin codes nobody has checked: a city never reads them."""
    async with client_for(role="city_commander", jur="3701") as city:
        response = await city.get("/v1/dlq")
    assert response.status_code == 403
