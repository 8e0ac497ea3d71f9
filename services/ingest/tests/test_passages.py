"""camera.passages.v1 → ingest → day partitions / DLQ, and the passages API, over the real broker and
database (the service connects as its restricted role, so partition upkeep goes through the
migration's SECURITY DEFINER function)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from qzx_common.contracts.passage_reader import read_passage
from qzx_common.topics import CAMERA_PASSAGES, CAMERA_PASSAGES_DLQ, PASSAGES_ACCEPTED
from qzx_common.web.auth import mint_token
from qzx_dev.samples import make_passage
from qzx_dev.testing import Stack, eventually
from qzx_ingest.passages import repository, service
from qzx_ingest.settings import IngestSettings

from .test_pipeline import drain

pytestmark = [pytest.mark.db, pytest.mark.kafka]


def plate_of(n: int) -> str:
    return f"鲁B{n:05d}"


async def send(stack: Stack, producer: Any, values: list[bytes]) -> None:
    for v in values:
        await producer.send(stack.topic_prefix + CAMERA_PASSAGES, v, key=b"370102-CK-0042")
    await producer.flush()


async def trajectory(client: httpx.AsyncClient, plate: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/passages", params={"plate": plate, "limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_valid_passages_are_stored_once_and_bad_ones_dead_lettered(
    stack: Stack, producer: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    plate = plate_of(int(tag[:4], 16) % 100000)
    now = datetime.now(UTC)
    valid = [
        make_passage(passage_id=f"{tag}-{i}", plate=plate, captured_at=now - timedelta(minutes=i))
        for i in range(20)
    ]
    bad = [
        (make_passage(passage_id=f"{tag}-lat", location={"lat": 50, "lon": 117.1, "admin_code": "370102"}), "location.lat"),
        (make_passage(passage_id=f"{tag}-lane", lane=0), "lane:"),
        (make_passage(passage_id=f"{tag}-old", captured_at=now - timedelta(days=40)), "captured_at: before"),
        (make_passage(passage_id=f"{tag}-dir", direction="up"), "direction:"),
    ]  # fmt: skip
    await send(stack, producer, [orjson.dumps(p) for p in valid])
    # Replays in a later batch, and the rejects, with one not even JSON.
    await send(stack, producer, [orjson.dumps(p) for p in valid[:5]] + [orjson.dumps(p) for p, _ in bad])
    await send(stack, producer, [f"{tag} not json".encode()])

    async def all_stored() -> bool:
        return len(await trajectory(client, plate)) >= len(valid)

    await eventually(all_stored)
    items = await trajectory(client, plate)
    assert [i["passage_id"] for i in items] == [p["passage_id"] for p in valid]  # once each, newest first
    first = items[0]
    assert first["location"] == valid[0]["location"] and first["direction"] == "N" and first["lane"] == 2
    assert datetime.fromisoformat(first["captured_at"]) == datetime.fromisoformat(valid[0]["captured_at"])

    dlq = await drain(
        stack, CAMERA_PASSAGES_DLQ, want=len(bad) + 1, match=lambda rec: tag.encode() in rec.value
    )
    reasons = {orjson.loads(rec.value)["passage_id"] if rec.value[:1] == b"{" else "raw": dict(rec.headers)
               for rec in dlq}  # fmt: skip
    for p, reason in bad:
        headers = reasons[p["passage_id"]]
        assert reason in headers["qzx-error"].decode()
        assert headers["qzx-source-topic"].decode() == CAMERA_PASSAGES
        assert headers["qzx-consumer"].decode() == "qzx-ingest-passages"
    assert "malformed JSON" in reasons["raw"]["qzx-error"].decode()
    listed = (await client.get("/v1/dlq", params={"limit": 500})).json()["items"]
    assert len([d for d in listed if tag in d["raw"]]) == len(bad) + 1

    # Each new passage forwarded once, normalised and keyed by plate (the replays were not new).
    forwarded = await drain(
        stack, PASSAGES_ACCEPTED, want=len(valid), match=lambda rec: tag.encode() in rec.value
    )
    assert sorted(orjson.loads(r.value)["passage_id"] for r in forwarded) == sorted(
        p["passage_id"] for p in valid
    )
    assert {r.key for r in forwarded} == {plate.encode()}


async def test_a_trajectory_pages_by_cursor_and_keeps_to_its_time_bounds(
    ingest: Any, client: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex[:8]
    plate = plate_of(int(tag[:4], 16) % 100000 + 1)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)  # across two days
    rows = [
        make_passage(passage_id=f"{tag}-{i:02d}", plate=plate, captured_at=base + timedelta(hours=i))
        for i in range(25)
    ]
    rows.append(make_passage(passage_id=f"{tag}-tie", plate=plate, captured_at=base + timedelta(hours=3)))
    await store(ingest, rows)

    pages, cursor = [], None
    while True:
        r = await client.get(
            "/v1/passages", params={"plate": plate, "limit": 4, **({"cursor": cursor} if cursor else {})}
        )
        body = r.json()
        pages.append([i["passage_id"] for i in body["items"]])
        if not (cursor := body["next_cursor"]):
            break
    walked = [pid for page in pages for pid in page]
    assert len(walked) == len(rows) == len(set(walked))  # the tie on captured_at neither lost nor repeated
    times = [datetime.fromisoformat(p["captured_at"]) for p in await trajectory(client, plate)]
    assert times == sorted(times, reverse=True)

    since, until = base + timedelta(hours=5), base + timedelta(hours=10)
    bounded = await trajectory(client, plate, since=since.isoformat(), until=until.isoformat())
    assert [p["passage_id"] for p in bounded] == [f"{tag}-{i:02d}" for i in range(9, 4, -1)]


async def test_what_passed_a_device_and_the_caller_jurisdiction(
    ingest: Any, client: httpx.AsyncClient, ingest_settings: IngestSettings
) -> None:
    tag = uuid.uuid4().hex[:8]
    device = f"370202-CK-{tag}"
    qingdao = {"lat": 36.07, "lon": 120.38, "admin_code": "370202"}
    await store(
        ingest, [make_passage(passage_id=f"{tag}-{i}", device_id=device, location=qingdao) for i in range(3)]
    )
    r = await client.get("/v1/passages", params={"device_id": device})
    assert len(r.json()["items"]) == 3

    def as_(role: str, jur: str) -> dict[str, str]:
        unit = "u-1" if role == "patrol_officer" else None
        token = mint_token(secret=ingest_settings.jwt_secret, sub="x", role=role, jur=jur, unit_id=unit)
        return {"Authorization": f"Bearer {token}"}

    seen = await client.get(
        "/v1/passages", params={"device_id": device}, headers=as_("city_commander", "3702")
    )
    assert len(seen.json()["items"]) == 3
    jinan = await client.get(
        "/v1/passages", params={"device_id": device}, headers=as_("city_commander", "3701")
    )
    assert jinan.status_code == 200 and jinan.json()["items"] == []
    patrol = await client.get(
        "/v1/passages", params={"device_id": device}, headers=as_("patrol_officer", "3702")
    )
    assert patrol.status_code == 403
    for params in ({}, {"device_id": device, "plate": "鲁A12345"}):
        r = await client.get("/v1/passages", params=params)
        assert r.status_code == 422 and r.json()["error"] == "passage_filter_required"
    assert (await client.get("/v1/passages", params={"plate": "XYZ"})).json()["error"] == "invalid_plate"


async def test_each_day_has_its_partition_and_old_days_are_dropped(
    ingest: Any, ingest_settings: IngestSettings
) -> None:
    engine = ingest.state.runtime.engine
    today = service.today()
    retention, ahead = ingest_settings.passage_retention_days, ingest_settings.passage_partitions_ahead
    async with engine.begin() as conn:
        days = await repository.partition_days(conn)
    assert days[0] == today - timedelta(days=retention) and days[-1] == today + timedelta(days=ahead)
    assert len(days) == retention + ahead + 1

    # A passage at 23:30 UTC belongs to the next day in China, and lands in that day's table.
    late = datetime.combine(today - timedelta(days=2), datetime.min.time(), UTC) + timedelta(
        hours=23, minutes=30
    )
    p = make_passage(captured_at=late)
    await store(ingest, [p])
    async with engine.begin() as conn:
        where = await conn.scalar(
            text("SELECT tableoid::regclass::text FROM ingest.passages WHERE passage_id = :p"),
            {"p": p["passage_id"]},
        )
    assert where == f"ingest.passages_p{(today - timedelta(days=1)):%Y%m%d}"

    async with engine.begin() as conn:  # as the service role: through the SECURITY DEFINER function
        assert await service.keep_partitions(conn, retention_days=retention, ahead_days=ahead) == (0, 0)
        assert await service.keep_partitions(conn, retention_days=5, ahead_days=ahead) == (0, retention - 5)
        assert (await repository.partition_days(conn))[0] == today - timedelta(days=5)
        assert await service.keep_partitions(conn, retention_days=retention, ahead_days=ahead) == (
            retention - 5,
            0,
        )


async def test_a_trajectory_reads_only_the_days_asked_for(ingest: Any) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    async with ingest.state.runtime.engine.begin() as conn:
        plan = "\n".join(
            await conn.scalars(
                text(
                    "EXPLAIN SELECT * FROM ingest.passages WHERE plate = '鲁A00001' AND captured_at >= :s "
                    "ORDER BY captured_at DESC LIMIT 50"
                ),
                {"s": since},
            )
        )
    assert plan.count("ix_") + plan.count("_idx") >= 1, plan
    scanned = {line.split(" on ")[1].split()[0] for line in plan.splitlines() if " on passages_p" in line}
    assert 1 <= len(scanned) <= 4, plan  # today, the days ahead, maybe yesterday: never the 30 before


async def store(ingest: Any, passages: list[dict[str, Any]]) -> None:
    """Through the consumer's own steps, without the broker (for the read tests)."""
    records = [_Record(orjson.dumps(p), i) for i, p in enumerate(passages)]
    batch = await service.prepare(records, retention_days=30)  # type: ignore[arg-type]
    assert not batch.rejects, batch.rejects
    async with ingest.state.runtime.engine.begin() as conn:
        await service.store_batch(conn, batch=batch, consumer="test", topic_prefix="")


class _Record:
    def __init__(self, value: bytes, offset: int) -> None:
        self.value, self.key, self.offset = value, None, offset
        self.topic, self.partition, self.timestamp = CAMERA_PASSAGES, 0, 0


async def test_passages_another_writer_stores_meanwhile_are_skipped(ingest: Any) -> None:
    """The batch's look-up misses what a concurrent writer has not committed yet; its COPY then
    meets those keys, and the batch is stored the slower way, each passage once."""
    engine = ingest.state.runtime.engine
    tag = uuid.uuid4().hex[:8]
    rows = [read_passage(orjson.dumps(make_passage(passage_id=f"{tag}-{i}"))) for i in range(5)]
    async with engine.connect() as other:
        tx = await other.begin()
        assert len(await repository.insert_new(other, rows[:2])) == 2
        async with engine.begin() as conn:
            storing = asyncio.create_task(repository.insert_new(conn, rows))
            await asyncio.sleep(0.5)  # looked up (nothing seen), COPYing: waits on the two keys
            await tx.commit()
            new = await storing
    assert new == {(r.passage_id, r.captured_at) for r in rows[2:]}
    async with engine.begin() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM ingest.passages WHERE passage_id LIKE :t"), {"t": f"{tag}-%"}
        )
    assert count == 5
