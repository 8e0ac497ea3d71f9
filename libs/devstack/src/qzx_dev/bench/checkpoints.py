"""Checkpoint-watch benchmark: one alerts process matching passages against a hotlist of
1,000,000 entries with clone detection on, beside the raw consume rate of the same topic.

    uv run python -m qzx_dev.bench.checkpoints [--quick] [--passages N] [--entries N]

(a) raw aiokafka consume of passages.accepted.v1, pre-filled with the simulator's passages (trips
    between checkpoints, cloned and hotlisted plates among them), as ingest forwards them;
(b) the matcher (``qzx_alerts.main.create_app`` in-process, all its consumers running): from the
    first batch checked to the last, each passage looked up in the in-memory hotlist index and
    compared with its plate's last sighting, the alerts it raises and the travel times it learns
    written. Also: the time to load the index from ``alerts.hotlists`` and the memory it takes;
(c) a starting matcher's replay of the clone window from the same topic (the fallback rebuild,
    with no snapshot);
and, measured first in the process's own memory, the clone-detection state for ``--state-plates``
distinct plates: its memory, and (d) its snapshots (decision 0020) written and loaded back, beside
a raw write and read of the same bytes to the same disk; scaled to the 20,000,000 plates issue 21
sets. A restart costs the load plus the replay of what came after the last snapshot: at most the
snapshot interval at the province's peak rate, replayed at (c)'s rate. ``--state-only`` measures
the state and its snapshots alone (no broker, no database).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from qzx_common.contracts.passage_reader import passage_json, read_passage
from qzx_common.kafka.admin import ensure_topics
from qzx_common.settings import to_plain_url
from qzx_common.topics import PASSAGES_ACCEPTED
from qzx_dev.bench import aligned, run_async, servers
from qzx_dev.bench.ingest import fresh_database, prefill, write_json
from qzx_dev.bench.kafka import raw_consume
from qzx_dev.simulator import SimMessage, StepClock
from qzx_dev.simulator.passages import PassageGenerator
from qzx_dev.simulator.plates import DIGITS, LETTERS

TARGET_RATE = 50_000
SERIAL = DIGITS + LETTERS
STATE_GOAL_PLATES = 20_000_000  # issue 21: their state < 4 GiB, rebuilt after a restart < 60 s
STATE_GOAL_MIB = 4096
REBUILD_GOAL_S = 60
PEAK_RATE = 10_000  # passages/s at a province's peak: the tail a restart replays comes at this rate
HOTLISTED = 20  # of the simulated plates, on the hotlist (the rest of the entries match nothing)


def say(text: str) -> None:
    print(f"[bench checkpoints {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def generate(n: int) -> tuple[list[SimMessage], list[str]]:
    """``n`` passages as ingest forwards them (key plate), over the last hours; and some of
    their plates to put on the hotlist."""
    start = datetime.now(UTC) - timedelta(hours=3)
    step = timedelta(seconds=3 * 3600 / max(1.0, n / 50))  # n passages over three hours
    gen = PassageGenerator(seed=21, clock=StepClock(start, step))
    out: list[SimMessage] = []
    while len(out) < n:
        for m in gen.batch(50):
            row = read_passage(m.value)
            assert row.plate is not None
            out.append(SimMessage(row.plate.encode(), passage_json(row), "valid", row.passage_id, m.scenario))
    rng = random.Random(5)
    plates = sorted({m.key.decode() for m in out})
    return out[:n], rng.sample(plates, min(HOTLISTED, len(plates)))


async def load_hotlist(conn: asyncpg.Connection, *, entries: int, hotlisted: list[str]) -> None:
    """``entries`` rows in alerts.hotlists by COPY (``hotlisted`` among them), as the owner with
    the change trigger off (a bulk load, not a stream of changes)."""
    rng = random.Random(9)
    plates = set(hotlisted)
    while len(plates) < entries:  # 鲁Z: an office letter the simulator never issues, so these match nothing
        plates.add("鲁Z" + "".join(rng.choices(SERIAL, k=5)))
    rows = [
        (f"bench-{i}", plate, "P2", "benchmark entry", "bench", False, "370000", "bench")
        for i, plate in enumerate(sorted(plates))
    ]
    await conn.execute("ALTER TABLE alerts.hotlists DISABLE TRIGGER hotlist_changed")
    await conn.copy_records_to_table(
        "hotlists",
        schema_name="alerts",
        columns=["id", "plate", "priority", "reason", "source", "covert", "admin_code", "created_by"],
        records=rows,
    )
    await conn.execute("ALTER TABLE alerts.hotlists ENABLE TRIGGER hotlist_changed")
    await conn.execute("VACUUM ANALYZE alerts.hotlists")


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


async def index_load(db: str) -> tuple[float, float, int]:
    """(seconds, MiB) to load the index as the matcher does at start, and its entries."""
    from qzx_alerts.checkpoints import repository
    from qzx_alerts.checkpoints.index import HotlistIndex

    conn = await asyncpg.connect(to_plain_url(db))
    try:
        before, started = rss_mib(), time.perf_counter()
        index = HotlistIndex()
        await repository.load(conn, index)
        return time.perf_counter() - started, rss_mib() - before, len(index)
    finally:
        await conn.close()


def state_footprint(plates: int, *, partitions: int = 12) -> tuple[float, float, Any]:
    """(MiB, seconds, the state) of the clone-detection state holding ``plates`` distinct plates'
    last sightings over ``partitions`` partitions, at the simulated province's 2,000 checkpoints."""
    from qzx_alerts.checkpoints.sightings import Last, LastSightings

    rng = random.Random(3)
    devices = [(f"37{c:02d}02-CK-{d:04d}", 36 + c / 10, 117 + d / 1000, f"37{c:02d}02") for c in range(1, 18) for d in range(118)]  # fmt: skip
    serials = (f"鲁{LETTERS[i % 20]}{i // 20:05d}" for i in range(plates))  # distinct plates
    base = time.time() - 3600
    before, started = rss_mib(), time.perf_counter()
    state = LastSightings(max_plates=plates)
    for n, plate in enumerate(serials):
        device, lat, lon, admin = devices[rng.randrange(len(devices))]
        state.put(n % partitions, plate, Last(f"{device}-{n:010d}", device, lat, lon, admin, base + n / 1000))
    took = time.perf_counter() - started
    mib = rss_mib() - before
    assert len(state) == plates
    return mib, took, state


def _evict(path: str) -> None:
    """Drop the file's pages from the page cache, so a read below comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _raw_write(path: str, chunks: tuple[bytes, bytes]) -> None:
    with open(path, "wb") as f:
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())


def snapshot_round_trip(state: Any) -> dict[str, float]:
    """(d): every partition of ``state`` encoded and written as the matcher does, then loaded back
    into a fresh state (the first one dropped first); beside a raw write (with fsync) and a raw
    read of the same bytes, the page cache dropped before each read."""
    from pathlib import Path

    from qzx_alerts.checkpoints import snapshot
    from qzx_alerts.checkpoints.sightings import LastSightings
    from qzx_alerts.checkpoints.snapshot import Snapshot

    topic = "bench.passages.accepted.v1"
    directory = Path(tempfile.mkdtemp(prefix="qzx-snapshots-"))
    r = {"encode_s": 0.0, "encode_max_s": 0.0, "write_s": 0.0, "raw_write_s": 0.0, "bytes": 0.0}
    try:
        partitions = sorted(state.partitions)
        for p in partitions:
            started = time.perf_counter()
            encoded = snapshot.encode(Snapshot(p, 0, time.time(), state.partitions[p]))
            took = time.perf_counter() - started
            r["encode_s"] += took
            r["encode_max_s"] = max(r["encode_max_s"], took)
            started = time.perf_counter()
            r["bytes"] += snapshot.write(snapshot.path_for(directory, topic, p), encoded)
            written = time.perf_counter()
            _raw_write(str(directory / f"raw.{p}"), (encoded.head, encoded.payload))
            r["raw_write_s"] += time.perf_counter() - written
            r["write_s"] += written - started
            del encoded
        plates = len(state)
        state.partitions.clear()
        gc.collect()
        for p in partitions:
            _evict(str(directory / f"raw.{p}"))
        started = time.perf_counter()
        for p in partitions:
            (directory / f"raw.{p}").read_bytes()
        r["raw_read_s"] = time.perf_counter() - started
        for p in partitions:
            _evict(str(snapshot.path_for(directory, topic, p)))
        loaded = LastSightings(max_plates=state.max_plates)
        started = time.perf_counter()
        for p in partitions:
            got = snapshot.read(snapshot.path_for(directory, topic, p), partition=p)
            assert got is not None
            loaded.replace(p, got.state)
        r["load_s"] = time.perf_counter() - started
        assert len(loaded) == plates
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return r


async def rebuild_rate(bootstrap: str, topic: str) -> float:
    """Passages per second a starting matcher replays into its last sightings (every partition,
    from the start of the clone window to the end the topic has now)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from qzx_alerts.checkpoints.index import HotlistIndex
    from qzx_alerts.checkpoints.rebuild import Span, replay
    from qzx_alerts.checkpoints.service import Matcher
    from qzx_alerts.checkpoints.sightings import LastSightings
    from qzx_alerts.scoring.rules import load_rules

    rules = load_rules()
    fresh = Matcher(index=HotlistIndex(), sightings=LastSightings(max_plates=STATE_GOAL_PLATES), learned={}, rules=rules)  # fmt: skip
    ends_of = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await ends_of.start()
    try:
        await ends_of.topics()
        tps = [TopicPartition(topic, p) for p in sorted(ends_of.partitions_for_topic(topic) or ())]
        ends = await ends_of.end_offsets(tps)
    finally:
        await ends_of.stop()
    spans = {tp.partition: Span(None, end) for tp, end in ends.items()}
    started = time.perf_counter()
    n = await replay(
        bootstrap=bootstrap, topic=topic, matcher=fresh, spans=spans, window_s=rules.clone.window_s
    )
    return n / (time.perf_counter() - started)


def alerts_app(db: str, bootstrap: str, prefix: str, *, consume: bool = True) -> Any:
    from qzx_alerts.main import create_app
    from qzx_alerts.settings import AlertsSettings

    settings = AlertsSettings(database_url=db, kafka_bootstrap=bootstrap, topic_prefix=prefix, log_json=False)
    return create_app(settings, consume=consume)


def counter(outcome: str) -> Any:
    from prometheus_client import REGISTRY

    return lambda: REGISTRY.get_sample_value("qzx_alerts_passages_total", {"outcome": outcome}) or 0.0


async def matcher(expected: int) -> float:
    checked = counter("checked")
    base, started, first = checked(), time.perf_counter(), None
    base_first = base
    last_report = started
    while checked() - base < expected:
        await asyncio.sleep(0.02)
        now = time.perf_counter()
        if first is None and checked() > base:
            first, base_first = now, checked()
        if now - last_report > 5:
            say(f"matcher: {checked() - base:,.0f}/{expected:,} checked")
            last_report = now
        if now - started > 600:
            raise TimeoutError(f"checked {checked() - base:.0f} of {expected} in 600 s")
    return (expected - (base_first - base)) / (time.perf_counter() - (first or started))


async def run(*, n: int, entries: int, server_url: str, bootstrap: str) -> dict[str, Any]:
    prefix = f"benchc{uuid.uuid4().hex[:6]}."
    topic = prefix + PASSAGES_ACCEPTED
    say(f"generating {n:,} passages")
    messages, hotlisted = generate(n)
    r: dict[str, Any] = {"passages": n, "entries": entries, "plates": len({m.key for m in messages})}
    await ensure_topics(bootstrap, prefix=prefix)
    say("pre-filling passages.accepted.v1")
    r["produce_rate"] = await prefill(bootstrap, topic, messages)
    say("(a) raw consume")
    r["raw_consume_rate"] = await raw_consume(bootstrap, topic, n)
    async with fresh_database(server_url, "checkpoints") as db:
        app = alerts_app(db, bootstrap, prefix, consume=False)
        async with app.router.lifespan_context(app):  # migrates
            pass
        conn = await asyncpg.connect(to_plain_url(db))
        try:
            say(f"loading {entries:,} hotlist entries")
            await load_hotlist(conn, entries=entries, hotlisted=hotlisted)
            r["index_load_s"], r["index_mib"], r["index_entries"] = await index_load(db)
            hits, frauds = counter("hotlist_hit"), counter("plate_fraud")
            h0, f0 = hits(), frauds()
            say("(b) matcher")
            app = alerts_app(db, bootstrap, prefix)
            async with app.router.lifespan_context(app):
                r["matcher_rate"] = await matcher(n)
            r["hits"], r["clone_findings"] = hits() - h0, frauds() - f0
            r["alerts"] = await conn.fetchval("SELECT count(*) FROM alerts.alerts")
            say("(c) replaying the clone window from the topic, as a restart with no snapshot does")
            r["rebuild_rate"] = await rebuild_rate(bootstrap, topic)
        finally:
            await conn.close()
    r["matcher_vs_raw_consume"] = r["matcher_rate"] / r["raw_consume_rate"]
    return r


def snapshot_lines(r: dict[str, Any]) -> list[tuple[str, str]]:
    scale = STATE_GOAL_PLATES / r["state_plates"]
    mib = r["snap_bytes"] / 2**20
    return [
        ("clone state, measured", f"{r['state_plates']:,} plates: {r['state_mib']:,.0f} MiB ({r['state_bytes_per_plate']:.0f} B a plate), filled in {r['state_fill_s']:.1f} s"),
        ("clone state, 20M plates", f"{r['state_goal_mib']:>10,.0f} MiB     (goal < {STATE_GOAL_MIB:,}; linear in plates)"),
        ("(d) snapshot, written", f"{mib:,.0f} MiB: encoded in {r['snap_encode_s']:.2f} s (at most {r['snap_encode_max_s'] * 1000:.0f} ms a partition, on the event loop), written in {r['snap_write_s']:.2f} s ({r['snap_write_s'] / r['snap_raw_write_s']:.2f} x raw write+fsync of the same bytes, {r['snap_raw_write_s']:.2f} s)"),
        ("(d) snapshot, loaded", f"{r['snap_load_s']:.2f} s ({r['snap_load_s'] / r['snap_raw_read_s']:.2f} x raw read of the same bytes, {r['snap_raw_read_s']:.2f} s)"),
        ("(d) at 20M plates", f"load {r['snap_load_s'] * scale:,.1f} s, encode {r['snap_encode_s'] * scale:,.1f} s + write {r['snap_write_s'] * scale:,.1f} s, {mib * scale:,.0f} MiB (linear in plates)"),
    ]  # fmt: skip


def table(r: dict[str, Any]) -> str:
    tail = r["snapshot_interval_s"] * PEAK_RATE
    restart_s = r["snap_load_s"] * STATE_GOAL_PLATES / r["state_plates"] + tail / r["rebuild_rate"]
    lines = [
        ("passages (distinct plates)", f"{r['passages']:,} ({r['plates']:,})"),
        ("hotlist entries in the index", f"{r['index_entries']:,}, loaded in {r['index_load_s']:.1f} s, {r['index_mib']:,.0f} MiB"),
        ("(a) raw aiokafka consume", f"{r['raw_consume_rate']:>10,.0f} msg/s"),
        ("(b) matcher, passages checked", f"{r['matcher_rate']:>10,.0f} /s       (target >= {TARGET_RATE:,}; clone detection on)"),
        ("ratio (b) / (a) raw consume", f"{r['matcher_vs_raw_consume']:>10.2f}"),
        ("raised", f"{r['hits']:,.0f} hotlist hits, {r['clone_findings']:,.0f} clone findings, {r['alerts']:,} alerts"),
        *snapshot_lines(r),
        ("(c) replay from the topic", f"{r['rebuild_rate']:>10,.0f} passages/s ({r['rebuild_rate'] / r['raw_consume_rate']:.2f} x raw consume)"),
        ("no snapshot, 20M plates", f"{r['rebuild_goal_s']:>10,.0f} s       (the whole clone window, at least one passage a plate)"),
        ("restart from a snapshot, 20M", f"{restart_s:>10,.1f} s       (goal < {REBUILD_GOAL_S}; load + a {r['snapshot_interval_s']:.0f} s tail at {PEAK_RATE:,}/s: {tail:,.0f} passages at (c)'s rate)"),
    ]  # fmt: skip
    body = aligned(lines)
    verdict = "meets" if r["matcher_rate"] >= TARGET_RATE else "MISSES"
    state = "meets" if r["state_goal_mib"] < STATE_GOAL_MIB else "MISSES"
    rebuilt = "meets" if restart_s < REBUILD_GOAL_S else "MISSES"
    return (
        f"checkpoint-watch benchmark\n{body}\n  => {verdict} the {TARGET_RATE:,}/s target; {state} the "
        f"{STATE_GOAL_MIB:,} MiB state goal; {rebuilt} the {REBUILD_GOAL_S} s rebuild goal"
    )


def state_table(r: dict[str, Any]) -> str:
    lines = snapshot_lines(r)
    width = max(len(k) for k, _ in lines)
    return "checkpoint-watch benchmark, state and snapshots only\n" + "\n".join(
        f"  {k:<{width}}  {v}" for k, v in lines
    )


def main(argv: list[str] | None = None) -> int:
    from qzx_alerts.settings import AlertsSettings

    parser = argparse.ArgumentParser(
        prog="python -m qzx_dev.bench.checkpoints", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="50,000 passages")
    parser.add_argument("--passages", type=int, help="passages to pre-fill (default 200,000)")
    parser.add_argument("--entries", type=int, default=1_000_000, help="hotlist entries (default 1,000,000)")
    parser.add_argument("--state-plates", type=int, help="plates in the clone-state measurement (default 1,000,000)")  # fmt: skip
    parser.add_argument("--state-only", action="store_true", help="the state and its snapshots only")
    args = parser.parse_args(argv)
    n = args.passages or (50_000 if args.quick else 200_000)
    plates = args.state_plates or (200_000 if args.quick else 1_000_000)
    say(f"clone state of {plates:,} plates")  # first: the process's memory is still its own
    mib, fill_s, state = state_footprint(plates)
    say("(d) snapshots of it written and loaded back")
    snap = snapshot_round_trip(state)
    del state
    results: dict[str, Any] = {
        "quick": args.quick,
        "state_plates": plates,
        "state_mib": mib,
        "state_fill_s": fill_s,
    }
    results |= {f"snap_{k}": v for k, v in snap.items()}
    results["state_bytes_per_plate"] = mib * 2**20 / plates
    results["state_goal_mib"] = mib / plates * STATE_GOAL_PLATES
    results["snapshot_interval_s"] = AlertsSettings.model_fields["passage_snapshot_interval_s"].default
    results["load_average"] = os.getloadavg()
    if args.state_only:
        print(state_table(results), flush=True)
        say(
            f"load average {results['load_average']}; results written to {write_json(results, name='checkpoints-state')}"
        )
        return 0
    with servers("checkpoints") as (server_url, bootstrap):
        results |= run_async(run(n=n, entries=args.entries, server_url=server_url, bootstrap=bootstrap))
    results["rebuild_goal_s"] = STATE_GOAL_PLATES / results["rebuild_rate"]
    print(table(results), flush=True)
    say(f"load average {os.getloadavg()}; results written to {write_json(results, name='checkpoints')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
