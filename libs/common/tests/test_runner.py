"""The consumer runner against the real broker: a batch prepared while the one before it fails for
good is handed back to ``discard`` (its preparer may hold a database transaction open), offsets
that a rebalance took away do not stop the consumer, and no record stops a partition (what fails
alone is dead-lettered, what is transient is retried and reported as a stall)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError

from qzx_common.kafka.runner import ConsumerRunner, RecordsRejected
from qzx_dev.testing import Stack, eventually

pytestmark = [pytest.mark.kafka]


async def topic_holding(stack: Stack, *values: bytes) -> str:
    """A new one-partition topic holding ``values`` in order."""
    topic = f"{stack.topic_prefix}runner-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    for value in values:
        await producer.send_and_wait(topic, value)
    await producer.stop()
    return topic


async def test_a_prepared_batch_is_discarded_when_the_one_before_fails_while_stopping(stack: Stack) -> None:
    topic = await topic_holding(stack, b"1", b"2")

    second_prepared = asyncio.Event()
    discarded: list[bytes] = []

    def prepare(records: Sequence[ConsumerRecord]) -> bytes:
        value: bytes = records[0].value
        if value == b"2":
            second_prepared.set()
        return value

    async def handle(value: bytes) -> None:
        await second_prepared.wait()  # "2" is prepared, not yet handed over
        runner.stop()
        raise RuntimeError("the database went away")

    async def discard(value: bytes) -> None:
        discarded.append(value)

    runner = ConsumerRunner(
        bootstrap=stack.bootstrap,
        topics=[topic],
        group_id=f"{topic}-group",
        handle=handle,
        prepare=prepare,
        discard=discard,
        max_records=1,
    )
    await runner.start()
    with pytest.raises(RuntimeError, match="went away"):
        await asyncio.wait_for(runner.run(), timeout=30)
    assert discarded == [b"2"]


async def test_offsets_a_rebalance_took_away_are_left_to_the_new_owner(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch prepared before its partitions were revoked is applied after; its offsets can then
    not be committed (the new owner resumes from the last commit and applies it again, harmlessly),
    and the consumer goes on."""
    topic = await topic_holding(stack, b"1", b"2")

    handled: list[bytes] = []

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        handled.append(records[0].value)
        if len(handled) == 2:
            runner.stop()

    runner = ConsumerRunner(
        bootstrap=stack.bootstrap, topics=[topic], group_id=f"{topic}-group", handle=handle, max_records=1
    )
    await runner.start()
    commit = runner.consumer.commit
    refused: list[object] = []

    async def commit_once_refused(offsets: object) -> None:
        if not refused:  # as aiokafka answers for a partition no longer assigned
            refused.append(offsets)
            raise IllegalStateError("partition not assigned")
        await commit(offsets)

    monkeypatch.setattr(runner.consumer, "commit", commit_once_refused)
    await asyncio.wait_for(runner.run(), timeout=30)
    assert handled == [b"1", b"2"] and len(refused) == 1


def runner_for(stack: Stack, topic: str, handle: Any, **options: Any) -> tuple[ConsumerRunner, list]:
    """A runner over ``topic`` whose dead letters are collected (value, reason)."""
    letters: list[tuple[bytes, str]] = []

    async def dead_letter(rejected: Sequence[tuple[ConsumerRecord, str]]) -> None:
        letters.extend((r.value, why) for r, why in rejected)

    runner = ConsumerRunner(
        bootstrap=stack.bootstrap,
        topics=[topic],
        group_id=f"{topic}-group",
        handle=handle,
        dead_letter=dead_letter,
        **options,
    )
    return runner, letters


async def run_until(runner: ConsumerRunner, done: Any, timeout: float = 30) -> None:
    await runner.start()
    running = asyncio.create_task(runner.run())
    try:
        await eventually(done, timeout=timeout)
    finally:
        runner.stop()
        await asyncio.wait_for(running, 10)


async def test_a_record_that_fails_alone_is_dead_lettered_and_the_others_applied(stack: Stack) -> None:
    values = [str(i).encode() for i in range(40)]
    topic = await topic_holding(stack, *values[:13], b"poison", *values[13:])
    applied: list[bytes] = []

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        if any(r.value == b"poison" for r in records):
            raise ValueError("cannot apply this one")
        applied.extend(r.value for r in records)

    runner, letters = runner_for(stack, topic, handle)

    async def done() -> bool:
        return len(applied) == len(values) and bool(letters)

    await run_until(runner, done)
    assert applied == values  # each once, in order
    assert letters == [(b"poison", "ValueError: cannot apply this one")]


async def test_transient_failures_are_retried_and_reported_as_a_stall(stack: Stack) -> None:
    topic = await topic_holding(stack, b"a", b"b")
    failures = 3
    applied: list[bytes] = []
    stalls: list[str] = []

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        nonlocal failures
        stalls.extend(str(s) for s in runner.stalls(after_s=0))
        if failures:
            failures -= 1
            raise ConnectionResetError("the database went away")
        applied.extend(r.value for r in records)

    runner, letters = runner_for(stack, topic, handle)

    async def done() -> bool:
        return applied == [b"a", b"b"]

    await run_until(runner, done)
    assert letters == []  # nothing valid is given up
    assert any("has not advanced" in s and "ConnectionResetError" in s for s in stalls)
    assert runner.stalls(after_s=0) == []  # committed: nothing waits


async def test_a_failure_while_the_database_is_down_is_retried_not_dead_lettered(stack: Stack) -> None:
    topic = await topic_holding(stack, b"x")
    failed_checks = 2  # the database answers from the third check on
    applied: list[bytes] = []

    async def healthy() -> None:
        nonlocal failed_checks
        if failed_checks:
            failed_checks -= 1
            raise OSError("connection refused")

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        if failed_checks:
            raise RuntimeError("an error that does not say it is transient")
        applied.extend(r.value for r in records)

    runner, letters = runner_for(stack, topic, handle, healthy=healthy)

    async def done() -> bool:
        return applied == [b"x"]

    await run_until(runner, done)
    assert letters == []


async def test_rejected_records_go_straight_to_the_dead_letters(stack: Stack) -> None:
    topic = await topic_holding(stack, b"1", b"bad", b"2", b"worse", b"3")
    applied: list[bytes] = []

    def prepare(records: Sequence[ConsumerRecord]) -> list[bytes]:
        bad = {i: f"{r.value.decode()} is unreadable" for i, r in enumerate(records) if not r.value.isdigit()}
        if bad:
            raise RecordsRejected(bad)
        return [r.value for r in records]

    async def handle(values: list[bytes]) -> None:
        applied.extend(values)

    runner, letters = runner_for(stack, topic, handle, prepare=prepare)

    async def done() -> bool:
        return applied == [b"1", b"2", b"3"] and len(letters) == 2

    await run_until(runner, done)
    assert letters == [(b"bad", "bad is unreadable"), (b"worse", "worse is unreadable")]


async def test_a_consumer_out_of_its_group_is_reported_until_a_join_assigns_it(stack: Stack) -> None:
    """/readyz's membership check: out of the group from start until the broker assigns it, and
    again from a rebalance's revocation until the next assignment. One partition and two members:
    the second is assigned nothing and is a member all the same (an idle replica stays ready)."""
    topic = await topic_holding(stack, b"a")

    async def handle(records: Sequence[ConsumerRecord]) -> None:
        pass

    first, _ = runner_for(stack, topic, handle)
    second, _ = runner_for(stack, topic, handle)
    starting = asyncio.create_task(first.start())  # joins the group before it returns
    await asyncio.sleep(0)  # the start runs to its first round trip to the broker
    assert "has had no group membership" in (first.not_a_member(after_s=0) or "")
    assert "not yet joined" in (first.not_a_member(after_s=0) or "")
    assert first.not_a_member(after_s=60) is None  # within the threshold: not reported yet
    await starting
    tasks = [asyncio.create_task(first.run())]
    try:

        async def members() -> bool:
            return all(
                r.not_a_member(after_s=0) is None for r in (first, second) if r.consumer.subscription()
            )

        await eventually(members, timeout=30)
        revoked = asyncio.Event()
        original = first._joining

        def joining() -> None:
            original()
            revoked.set()

        first._joining = joining  # type: ignore[method-assign]  # to see the revocation happen
        await second.start()
        tasks.append(asyncio.create_task(second.run()))
        await asyncio.wait_for(revoked.wait(), 30)  # the second member's join revoked the first's
        await eventually(members, timeout=30)
        assert len(first.consumer.assignment()) + len(second.consumer.assignment()) == 1
    finally:
        first.stop()
        second.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
