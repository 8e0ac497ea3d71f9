"""Topic layout is configuration: partitions, replication factor and min.insync.replicas come from
QZX_TOPIC_*, -1 takes the broker's default (1 on the embedded broker), and topics are created that
way on the real broker."""

from __future__ import annotations

import asyncio
import functools
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic import ValidationError

from qzx_common.kafka.admin import ensure_topics, keep_topics
from qzx_common.settings import CommonSettings
from qzx_common.topics import PARTITIONS
from qzx_dev.testing import Stack, eventually


def test_the_defaults_are_four_partitions_and_the_brokers_replication(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PARTITIONS", "REPLICATION_FACTOR", "MIN_INSYNC_REPLICAS"):
        monkeypatch.delenv(f"QZX_TOPIC_{name}", raising=False)
    s = CommonSettings()
    assert (s.topic_partitions, s.topic_replication_factor, s.topic_min_insync_replicas) == (
        PARTITIONS,
        -1,
        -1,
    )


def test_the_layout_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QZX_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("QZX_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("QZX_TOPIC_MIN_INSYNC_REPLICAS", "2")
    s = CommonSettings()
    assert (s.topic_partitions, s.topic_replication_factor, s.topic_min_insync_replicas) == (12, 3, 2)


@pytest.mark.parametrize(
    "layout",
    [
        {"topic_partitions": 0},
        {"topic_replication_factor": 0},
        {"topic_replication_factor": -2},
        {"topic_min_insync_replicas": 0},
        {"topic_replication_factor": 2, "topic_min_insync_replicas": 3},
    ],
)
def test_a_layout_no_write_could_satisfy_is_refused_at_start(layout: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        CommonSettings(**layout)


async def _describe(bootstrap: str, topic: str) -> tuple[int, set[int], dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (meta,) = await admin.describe_topics([topic])
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        configs = {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}
        replicas = {len(p["replicas"]) for p in meta["partitions"]}
        return len(meta["partitions"]), replicas, configs
    finally:
        await admin.close()


@pytest.mark.kafka
async def test_topics_are_created_with_the_configured_layout(stack: Stack) -> None:
    prefix = f"{stack.topic_prefix}layout{uuid.uuid4().hex[:6]}."
    await ensure_topics(
        stack.bootstrap,
        prefix=prefix,
        names=("a.v1",),
        partitions=3,
        replication_factor=-1,
        min_insync_replicas=1,
    )
    partitions, replicas, configs = await _describe(stack.bootstrap, prefix + "a.v1")
    assert partitions == 3
    assert replicas == {1}  # -1: the embedded broker reports no default, so 1
    assert configs.get("min.insync.replicas") == "1"

    # An existing topic is left as it is (growing partitions is an operator's step).
    await ensure_topics(
        stack.bootstrap,
        prefix=prefix,
        names=("a.v1",),
        partitions=6,
        replication_factor=1,
        min_insync_replicas=1,
    )
    assert (await _describe(stack.bootstrap, prefix + "a.v1"))[0] == 3


@pytest.mark.kafka
async def test_the_layout_comes_from_the_settings_when_not_given(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QZX_TOPIC_PARTITIONS", "2")
    monkeypatch.setenv("QZX_TOPIC_REPLICATION_FACTOR", "1")
    monkeypatch.delenv("QZX_TOPIC_MIN_INSYNC_REPLICAS", raising=False)
    prefix = f"{stack.topic_prefix}layout{uuid.uuid4().hex[:6]}."
    await ensure_topics(stack.bootstrap, prefix=prefix, names=("b.v1",))
    partitions, replicas, configs = await _describe(stack.bootstrap, prefix + "b.v1")
    assert (partitions, replicas) == (2, {1})
    assert configs.get("min.insync.replicas") != "2"


@pytest.mark.kafka
async def test_more_in_sync_replicas_than_replicas_creates_nothing(stack: Stack) -> None:
    prefix = f"{stack.topic_prefix}layout{uuid.uuid4().hex[:6]}."
    with pytest.raises(ValueError, match=r"min\.insync\.replicas 2 is more than the replication factor 1"):
        await ensure_topics(
            stack.bootstrap,
            prefix=prefix,
            names=("c.v1",),
            partitions=1,
            replication_factor=-1,
            min_insync_replicas=2,
        )
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        assert prefix + "c.v1" not in set(await admin.list_topics())
    finally:
        await admin.close()


@pytest.mark.kafka
async def test_a_topic_that_has_gone_is_created_again(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """What a broker that lost its storage leaves: the service's topic check creates it again."""
    prefix = f"{stack.topic_prefix}gone{uuid.uuid4().hex[:6]}."
    create = functools.partial(
        ensure_topics, stack.bootstrap, prefix=prefix, names=("d.v1",), partitions=2, replication_factor=1
    )
    await create()
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    stopping = asyncio.Event()
    try:
        await admin.delete_topics([prefix + "d.v1"])
        assert prefix + "d.v1" not in await admin.list_topics()
        check = asyncio.create_task(keep_topics(create, every_s=0.2, stopping=stopping))

        async def back() -> bool:
            return prefix + "d.v1" in await admin.list_topics()

        await eventually(back, interval=0.2)
        stopping.set()
        await check
    finally:
        stopping.set()
        await admin.close()
    assert (await _describe(stack.bootstrap, prefix + "d.v1"))[0] == 2
    assert any("created again" in r.getMessage() for r in caplog.records)
