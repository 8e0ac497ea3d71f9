"""Topic creation, idempotent (an existing topic is fine).

How many partitions, how many replicas and how many of them must acknowledge a write
(``min.insync.replicas``) come from ``QZX_TOPIC_PARTITIONS``, ``QZX_TOPIC_REPLICATION_FACTOR`` and
``QZX_TOPIC_MIN_INSYNC_REPLICAS``. A replication factor of -1 takes the broker's
``default.replication.factor`` (read with DescribeConfigs: aiokafka speaks CreateTopics up to v3,
which has no "broker default" of its own), or 1 from a broker that does not say, as the embedded
one; a ``min.insync.replicas`` of -1 leaves the topic on the broker's setting. Topics that exist are
never changed: a mismatch is logged, and the runbook (docs/operations.md) says how to alter them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from qzx_common.topics import ALL_TOPICS

log = logging.getLogger(__name__)

BROKER_DEFAULT = -1


async def ensure_topics(
    bootstrap: str,
    *,
    prefix: str = "",
    names: tuple[str, ...] = ALL_TOPICS,
    partitions: int | None = None,
    replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    connect_attempts: int = 60,
    check_layout: bool = True,
) -> list[str]:
    """Create the topics that are missing; returns their names. Layout arguments left out come
    from the QZX_TOPIC_* settings, so every caller (services, ``qzx migrate``, the launcher,
    tests) creates alike. ``check_layout`` logs the topics whose layout differs from it."""
    if partitions is None or replication_factor is None or min_insync_replicas is None:
        from qzx_common.settings import CommonSettings

        s = CommonSettings()
        partitions = s.topic_partitions if partitions is None else partitions
        replication_factor = s.topic_replication_factor if replication_factor is None else replication_factor
        min_insync_replicas = (
            s.topic_min_insync_replicas if min_insync_replicas is None else min_insync_replicas
        )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    for attempt in range(connect_attempts):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == connect_attempts - 1:
                await admin.close()
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [prefix + n for n in names if prefix + n not in existing]
        present = [prefix + n for n in names if prefix + n in existing]
        if present and check_layout:
            await _warn_on_mismatch(admin, present, partitions=partitions)
        if not missing:
            return []
        replicas = replication_factor
        if replicas == BROKER_DEFAULT:
            replicas = await broker_default_replication_factor(admin)
        if min_insync_replicas != BROKER_DEFAULT and min_insync_replicas > replicas:
            raise ValueError(
                f"min.insync.replicas {min_insync_replicas} is more than the replication factor {replicas}: "
                "no write with acks=all could succeed (QZX_TOPIC_MIN_INSYNC_REPLICAS)"
            )
        configs = (
            {} if min_insync_replicas == BROKER_DEFAULT else {"min.insync.replicas": str(min_insync_replicas)}
        )
        wanted = [NewTopic(name, partitions, replicas, topic_configs=configs) for name in missing]
        try:
            response = await admin.create_topics(wanted)
        except TopicAlreadyExistsError:  # another replica created them meanwhile
            return []
        for name, code, message in getattr(response, "topic_errors", ()):
            if code and code != TopicAlreadyExistsError.errno:
                raise KafkaError(f"could not create topic {name}: error {code} {message or ''}".strip())
        log.info(
            "created topics",
            extra={
                "topics": [t.name for t in wanted],
                "partitions": partitions,
                "replication_factor": replicas,
                "min_insync_replicas": min_insync_replicas,
            },
        )
        return missing
    finally:
        await admin.close()


async def keep_topics(
    create: Callable[[], Awaitable[list[str]]], *, every_s: float, stopping: asyncio.Event
) -> None:
    """Until ``stopping``: every ``every_s``, ``create`` (``ensure_topics`` bound to a service's
    topics) the topics that have gone. A broker that lost its storage (the embedded one keeps it
    in memory) comes back without them, and a consumer's group then holds partitions of topics
    that do not exist: its offset commits are refused for ever (UnknownTopicOrPartition) and its
    partitions stall."""
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=every_s)
        if stopping.is_set():
            return
        try:
            created = await create()
        except Exception as e:  # the broker away: the consumers' readiness reports it
            log.info("could not check the topics: %s", e or type(e).__name__)
            continue
        if created:
            log.warning("topics had gone from the broker and were created again", extra={"topics": created})


async def broker_default_replication_factor(admin: AIOKafkaAdminClient) -> int:
    """The cluster's ``default.replication.factor``; 1 when the broker does not report it."""
    value = await _broker_config(admin, "default.replication.factor")
    try:
        return max(1, int(value)) if value is not None else 1
    except ValueError:
        return 1


async def _broker_config(admin: AIOKafkaAdminClient, key: str) -> str | None:
    cluster = await admin.describe_cluster()
    brokers = cluster.get("brokers") or []
    if not brokers:
        return None
    node = cluster.get("controller_id")
    if node is None or node < 0:
        node = brokers[0]["node_id"]
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, str(node), {key: None})]
        )
    except KafkaError:
        return None
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:  # (name, value, read_only, ...)
                if entry[0] == key:
                    return str(entry[1]) if entry[1] is not None else None
    return None


async def _warn_on_mismatch(admin: AIOKafkaAdminClient, topics: list[str], *, partitions: int) -> None:
    described: list[dict[str, Any]] = await admin.describe_topics(topics)
    for topic in described:
        have = len(topic.get("partitions") or [])
        if have and have < partitions:
            log.warning(
                "topic has fewer partitions than QZX_TOPIC_PARTITIONS; consumers beyond them stay idle",
                extra={"topic": topic["topic"], "partitions": have, "wanted": partitions},
            )
