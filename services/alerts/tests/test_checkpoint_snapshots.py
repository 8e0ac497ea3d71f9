"""Snapshots of the plates' last sightings: the file round trip and its refusals (unit), and a
matcher stopped mid-stream and started again from its snapshot, from a corrupt one, and after a
crash that lost offset commits (real broker and PostgreSQL): no clone finding missed, none raised
again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from qzx_alerts.checkpoints import snapshot
from qzx_alerts.checkpoints.sightings import Last, LastSightings
from qzx_alerts.checkpoints.snapshot import Snapshot, SnapshotUnusable
from qzx_alerts.main import create_app
from qzx_alerts.settings import AlertsSettings
from qzx_common.contracts.devices import DEVICE_BY_ID
from qzx_common.contracts.passage_reader import PassageRow, passage_json
from qzx_common.settings import to_plain_url
from qzx_common.topics import ALERTS_PASSAGES_GROUP, PASSAGES_ACCEPTED
from qzx_dev.testing import Stack, eventually

JINAN, QINGDAO = "370102-CK-0001", "370202-CK-0001"  # about 300 km apart


def sightings(n: int) -> LastSightings:
    s = LastSightings(max_plates=1000)
    for i in range(n):
        s.put(3, f"鲁A{i:05d}", Last(f"{JINAN}-{i:06d}", JINAN, 36.6, 117.1 + i % 3, "370102", 1.7e9 + i))
    return s


def test_a_partition_written_reads_back_whole(tmp_path: Path) -> None:
    s = sightings(50)
    path = snapshot.path_for(tmp_path, "passages.accepted.v1", 3)
    snapshot.write(path, snapshot.encode(Snapshot(3, 1234, 1.7e9, s.partitions[3])))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    loaded = snapshot.read(path, partition=3)
    assert loaded is not None and loaded.offset == 1234
    restored = LastSightings(max_plates=1000)
    restored.replace(3, loaded.state)
    assert list(restored.partitions[3].plates) == list(s.partitions[3].plates)  # least recent first
    for i in range(50):
        assert restored.get(3, f"鲁A{i:05d}") == s.get(3, f"鲁A{i:05d}")
    restored.put(3, "鲁B00001", Last("x", QINGDAO, 36.1, 120.4, "370202", 1.7e9))  # a new place numbered on
    assert restored.get(3, "鲁B00001") == Last("x", QINGDAO, 36.1, 120.4, "370202", 1.7e9)
    assert snapshot.read(tmp_path / "missing", partition=3) is None


@pytest.mark.parametrize("spoil", ["flip", "truncate", "format", "partition", "garbage"])
def test_a_spoiled_snapshot_is_refused(tmp_path: Path, spoil: str) -> None:
    encoded = snapshot.encode(Snapshot(3, 10, 1.7e9, sightings(20).partitions[3]))
    head, payload = encoded.head, encoded.payload
    data = bytearray(head + payload)
    if spoil == "flip":
        data[len(head) + len(payload) // 2] ^= 0x40
    elif spoil == "truncate":
        del data[-7:]
    elif spoil == "format":
        data[len(snapshot.MAGIC)] += 1
    elif spoil == "garbage":
        data = bytearray(b"not a snapshot at all")
    with pytest.raises(SnapshotUnusable):
        snapshot.decode(bytes(data), partition=4 if spoil == "partition" else 3)


def passage(plate: str, device_id: str, at: datetime) -> PassageRow:
    d = DEVICE_BY_ID[device_id]
    return PassageRow(
        f"{device_id}-{uuid.uuid4().hex[:10]}", device_id, at, plate, "blue", "car", "N", 1, 80.0,
        d.lat, d.lon, d.admin_code, d.road, d.km, 0.9, None,
    )  # fmt: skip


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def checked() -> float:
    return sample("qzx_alerts_passages_total", {"outcome": "checked"})


def frauds() -> float:
    return sample("qzx_alerts_passages_total", {"outcome": "plate_fraud"})


def loads() -> float:
    return sample("qzx_alerts_passage_snapshot_seconds_count", {"step": "load"})


async def commit_as_the_group(bootstrap: str, group_id: str, tp: TopicPartition, offset: int) -> None:
    """Commit ``offset`` as a member of ``group_id`` (the broker takes commits from members only)."""
    group = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    group.subscribe([tp.topic])
    await group.start()
    try:
        while tp not in group.assignment():
            await group.getmany(timeout_ms=200, max_records=1)
        await group.commit({tp: offset})
    finally:
        await group.stop()


@pytest.mark.db
@pytest.mark.kafka
@pytest.mark.parametrize("restart", ["stopped", "crashed", "corrupt"])
async def test_a_restarted_matcher_misses_no_clone_and_raises_none_twice(
    stack: Stack, alerts_settings: AlertsSettings, producer: Any, tmp_path: Path, restart: str
) -> None:
    prefix = f"{stack.topic_prefix}snap{uuid.uuid4().hex[:6]}."
    topic = prefix + PASSAGES_ACCEPTED
    settings = alerts_settings.model_copy(
        update={
            "topic_prefix": prefix,
            "passage_snapshot_dir": str(tmp_path),
            "passage_snapshot_interval_s": 0.2,
        }
    )
    now = datetime.now(UTC)
    tag = uuid.uuid4().int % 10**4
    x = [f"鲁X{tag:04d}{i}" for i in range(3)]  # first seen before the snapshot
    y = [f"鲁Y{tag:04d}{i}" for i in range(3)]  # first seen after it (the tail)
    c0, c1 = f"鲁C{tag:04d}0", f"鲁C{tag:04d}1"  # cloned before the stop: raised once, then
    sent = 0

    def all_checked(base: float) -> Any:
        async def check() -> bool:
            return checked() - base >= sent

        return check

    async def send(*rows: PassageRow) -> int:
        nonlocal sent
        offset = -1
        for p in rows:
            assert p.plate is not None
            meta = await producer.send_and_wait(topic, passage_json(p), key=p.plate.encode(), partition=0)
            offset, sent = meta.offset, sent + 1
        return offset

    def first_seen(plates: list[str], minutes: int) -> list[PassageRow]:
        return [passage(p, JINAN, now - timedelta(minutes=minutes)) for p in plates]

    path = snapshot.path_for(tmp_path, topic, 0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # creates the prefix's topics
        base = checked()
        await send(*first_seen(x, 40))
        c0_at = await send(passage(c0, JINAN, now - timedelta(minutes=50)))
        end_a = await send(passage(c0, QINGDAO, now - timedelta(minutes=45))) + 1

        async def covering() -> bytes | None:
            await send(passage(f"鲁F{uuid.uuid4().int % 10**6:06d}", JINAN, now - timedelta(minutes=40)))
            await asyncio.sleep(0.3)
            s = snapshot.read(path, partition=0) if path.exists() else None
            return path.read_bytes() if s is not None and s.offset >= end_a else None

        kept = await eventually(covering, timeout=30, interval=0.1)  # as a crash right after it finds it
        held = snapshot.decode(kept, partition=0)
        await send(*first_seen(y, 40), passage(c1, JINAN, now - timedelta(minutes=50)))
        await send(passage(c1, QINGDAO, now - timedelta(minutes=45)))
        await eventually(all_checked(base), timeout=30, interval=0.1)
    assert frauds() > 0

    path.write_bytes(kept)  # the later snapshots lost: the tail after ``held`` must be replayed
    if restart == "corrupt":
        spoiled = bytearray(kept)
        spoiled[len(kept) // 2] ^= 0x01
        path.write_bytes(bytes(spoiled))
    if restart == "crashed":  # the offsets committed after c0's first sighting are lost
        await commit_as_the_group(
            stack.bootstrap, prefix + ALERTS_PASSAGES_GROUP, TopicPartition(topic, 0), c0_at
        )
    assert c0_at < held.offset

    raised, loaded, checked_before = frauds(), loads(), checked()
    sent = 0
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await send(*(passage(p, QINGDAO, now - timedelta(minutes=30)) for p in x + y))  # too soon
        conn = await asyncpg.connect(to_plain_url(stack.database_url))
        try:

            async def found() -> set[str] | None:
                rows = await conn.fetch(
                    "SELECT DISTINCT plate FROM alerts.alerts WHERE kind = 'plate_fraud' AND plate = ANY($1)",
                    [*x, *y, c0, c1],
                )
                plates = {r["plate"] for r in rows}
                return plates if plates >= {*x, *y} else None

            assert await eventually(found, timeout=30, interval=0.2) == {*x, *y, c0, c1}
            await eventually(all_checked(checked_before), timeout=30, interval=0.1)
            await asyncio.sleep(1.0)  # anything raised again would be by now
        finally:
            await conn.close()
    # One finding per Qingdao passage of x and y; c0's and c1's are not raised again, except c1's
    # after the crash: its offsets were never committed, so it is checked again (at least once),
    # and its alerts absorb it (the set of plates above holds it once).
    assert frauds() - raised == len(x) + len(y) + (1 if restart == "crashed" else 0)
    assert loads() - loaded == (0 if restart == "corrupt" else 1)
