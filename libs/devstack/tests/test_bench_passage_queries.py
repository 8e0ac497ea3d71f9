"""The passage-queries benchmark's generator in SQL makes the rows its Python generator would:
the same ids, times, devices and plate format, in the day partitions, each plate in range."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from qzx_common.settings import to_plain_url
from qzx_dev.bench.ingest import fresh_database
from qzx_dev.bench.passage_queries import DEVICES, generate_sql, plate_of, plates_for
from qzx_dev.bench.passages import migrate_and_partition
from qzx_dev.simulator.plates import LETTERS
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_the_sql_generator_makes_the_rows_of_the_python_one(stack: Stack) -> None:
    n = 200_000_000  # 5,000,000 plates: most past five digits
    first = n - 3_000
    start = datetime.now(UTC) - timedelta(days=29)
    async with fresh_database(stack.server_url, "gen") as db:
        await migrate_and_partition(db, stack.bootstrap, f"{stack.topic_prefix}gen{uuid.uuid4().hex[:6]}.")
        assert await generate_sql(db, n=n, first=first, start=start) > 0
        conn = await asyncpg.connect(to_plain_url(db))
        try:
            rows = await conn.fetch("SELECT * FROM ingest.passages ORDER BY passage_id")
        finally:
            await conn.close()

    assert len(rows) == n - first
    devices = {d[0]: d for d in DEVICES}
    for r in rows:
        i = int(r["passage_id"].rsplit("-", 1)[1])
        device_id, lat, lon, admin = devices[r["device_id"]]
        assert r["passage_id"] == f"{device_id}-{i:011d}"
        assert (r["lat"], r["lon"], r["admin_code"]) == (lat, lon, admin)
        assert abs(r["captured_at"] - (start + timedelta(seconds=30 * 86400 * i / n))) < timedelta(
            milliseconds=1
        )
        p = int(r["plate"][2:]) * len(LETTERS) + LETTERS.index(r["plate"][1])
        assert plate_of(p) == r["plate"] and p < plates_for(n)
    assert len({r["plate"] for r in rows}) > 2_900  # drawn, not one plate
    assert len({r["device_id"] for r in rows}) > 1000


def test_plates_past_five_digits_keep_their_format() -> None:
    assert plate_of(24 * 123_456 + 2) == "鲁C123456"
    assert plate_of(3) == "鲁D00000"
