"""A dead letter is kept whatever position it had before: the embedded broker starts afresh (as a
recreated topic does), offsets begin again at 0, and the second dead letter at a position the first
used is stored and listed, not dropped as a redelivery. Over a broker of its own, restarted."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_common.web.auth import mint_token
from qzx_dev.embedded import free_port, start_broker
from qzx_dev.testing import Stack, eventually
from qzx_ingest.main import create_app
from qzx_ingest.settings import IngestSettings

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def dead_letter_once(settings: IngestSettings, value: bytes, tag: str) -> list[dict[str, Any]]:
    """Start ingest on ``settings``, produce ``value`` to the camera topic, and return the dead
    letters of ``tag`` once it is among them."""
    app = create_app(settings)
    token = mint_token(secret=settings.jwt_secret, sub="p-1", role="province_commander", jur="37")
    async with app.router.lifespan_context(app):
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic(CAMERA_VIOLATIONS), value, key=b"k", partition=0)
        finally:
            await producer.stop()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://ingest",
            headers={"Authorization": f"Bearer {token}"},
        ) as client:

            async def listed() -> list[dict[str, Any]]:
                items = (await client.get("/v1/dlq", params={"limit": 500})).json()["items"]
                mine = [d for d in items if tag in d["raw"]]
                return mine if any(value.decode() == d["raw"] for d in mine) else []

            return await eventually(listed, timeout=30)


async def test_a_dead_letter_at_a_position_used_before_the_broker_restarted_is_kept(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="qzx-broker-")) / "broker.log"
    settings = IngestSettings(
        **stack.db_settings(),
        kafka_bootstrap=f"127.0.0.1:{port}",
        topic_prefix=f"restart-{tag}.",
        log_json=False,
    )
    first, second = f"{tag} first: not JSON".encode(), f"{tag} second: not JSON".encode()

    broker = start_broker(port=port, log_path=log)
    try:
        before = await dead_letter_once(settings, first, tag)
    finally:
        broker.stop()
    broker = start_broker(port=port, log_path=log)  # empty again: offsets start over
    try:
        after = await dead_letter_once(settings, second, tag)
    finally:
        broker.stop()

    assert len(before) == 1 and len(after) == 2
    positions = {(d["partition"], d["offset"]) for d in after}
    assert positions == {(0, 0)}  # the same position, twice: two dead letters
    assert {d["raw"] for d in after} == {first.decode(), second.decode()}
