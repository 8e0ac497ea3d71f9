"""The whole-stack checkpoint-watch benchmark's own arithmetic (its run needs the stack: make bench)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from qzx_dev.bench.checkpoint_watch import BATCH, Recorder, counter, generate, lag_of, parse_metrics

METRICS = """\
# TYPE qzx_consumer_lag gauge
qzx_consumer_lag{group="p.qzx-ingest-passages",partition="0",topic="p.camera.passages.v1"} 120.0
qzx_consumer_lag{group="p.qzx-ingest-passages",partition="1",topic="p.camera.passages.v1"} 30.0
qzx_consumer_lag{group="p.qzx-ingest",partition="0",topic="p.camera.violations.v1"} 999.0
# TYPE qzx_ingest_passages_total counter
qzx_ingest_passages_total{outcome="stored"} 5000.0
qzx_ingest_passages_total{outcome="duplicate"} 7.0
"""


def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return parse_metrics(METRICS)


def test_the_lag_of_a_group_sums_its_partitions_only() -> None:
    assert lag_of(samples(), "p.qzx-ingest-passages") == 150
    assert counter(samples(), "qzx_ingest_passages_total", "stored") == 5000


def test_a_hotlisted_passage_is_timed_once_from_its_send() -> None:
    rec = Recorder()
    rec.sent_at = {"p1": 100.0, "p2": 100.5}
    rec.hit_seen({"event_ids": ["p1"]}, 100.2)
    rec.hit_seen({"event_ids": ["p1", "p2", "unknown"]}, 100.7)  # the alert again, one passage more
    assert [round(ms) for ms in rec.minute.hits_ms] == [200, 200]


def test_the_passages_are_made_ahead_of_the_clock_batch_by_batch() -> None:
    start = datetime.now(UTC) + timedelta(hours=1)  # in the future: the clock is not held at now
    batches = list(generate(rate=1000, minutes=0.1, start=start))
    assert len(batches) == 1000 * 6 // BATCH
    last = max(datetime.fromisoformat(orjson.loads(m.value)["captured_at"]) for m in batches[-1])
    assert start + timedelta(seconds=3) < last <= start + timedelta(seconds=6)  # a trip starts up to 2 s back
