"""Alerts benchmark: scoring throughput and the list API's latency beside raw baselines, one run.

    uv run python -m qzx_dev.bench.alerts [--quick]

(a) raw COPY rate, bulk-loading the stored sightings (1,000,000; --quick 200,000);
(b) raw multi-row INSERT rate (unnest, batches of 2,000) into a table shaped like sightings;
(c) scoring throughput: the consumer's prepare and apply steps, pipelined as its runner does, on
    batches of 2,000 accepted events whose plates recur in the stored history (repeat-offender counts,
    clone checks, travel times, racing groups, hotlists, hazards, dedup, upserts, change log and
    outbox all included), per process. First 100,000 events (--quick 20,000) as a backlog arrives
    after an outage: captured over the days it spans at the history's own rate (1,000,000 in 30
    days, so 3 days); then, as a stress test, as many again captured within one hour, 70 times that
    rate: a plate recurs within the clone window at random devices across the province (about one
    event in six raises a plate-fraud finding) and most road segments hold a racing group;
(d) ``GET /v1/alerts`` with filters over 1,000,000 stored alerts (--quick 100,000): p50/p99 per
    filter (after 10 untimed requests each), through the real app in-process, beside a raw
    primary-key SELECT round trip;
(e) ingest and alerts as separate processes on the same stack: each one's throughput through Kafka
    (camera topic pre-filled with 50,000 events, --quick 10,000), printed beside the scoring rate,
    with the raw consume rate of violations.accepted.v1; then, with both services restarted on fresh
    topics and warmed up, camera event → alert visible through the API at 1,000 events/s for 60 s
    (--quick 15 s), seen on the SSE stream (every event) and by GET /v1/alerts/{id} (1 in 500),
    beside one raw Kafka hop at the same rate.
Reads QZX_DATABASE_URL / QZX_KAFKA_BOOTSTRAP; starts embedded servers for what is unset.
"""

from __future__ import annotations

import argparse
import functools
import random

from qzx_dev.bench.alerts_api import list_latency
from qzx_dev.bench.alerts_data import (
    CAMERA_LINGER_MS,
    DENSE_S,
    GET_SAMPLE,
    HISTORY_S,
    WINDOW_S,
    accepted_events,
    bulk_load_alerts,
    bulk_load_sightings,
    pct,
    plates,
    raw_insert_rate,
    scoring_rate,
)
from qzx_dev.bench.alerts_pipeline import pipeline_phase


async def run(quick: bool, dsn: str, url: str, bootstrap: str) -> None:
    from qzx_alerts.main import MIGRATIONS
    from qzx_alerts.settings import AlertsSettings
    from qzx_common.db import migrate

    rng = random.Random(7)
    n_hist, n_events, n_alerts, n_requests = (
        (200_000, 20_000, 100_000, 100) if quick else (1_000_000, 100_000, 1_000_000, 300)
    )
    await migrate(url=url, migrations_dir=MIGRATIONS, schema="alerts")
    pool = plates(n_hist // 5, rng)
    print(f"(a) bulk-loading {n_hist:,} sightings with COPY", flush=True)
    copy_rate = await bulk_load_sightings(dsn, n_hist, pool, rng)
    print("(b) raw INSERT rate", flush=True)
    insert_rate = await raw_insert_rate(dsn, 40_000 if quick else 100_000, rng)
    # A backlog at the history's rate (1,000,000 over 30 days: 100,000 span 3 days), then the stress test.
    backlog_s = HISTORY_S * n_events // n_hist
    print(
        f"(c) scoring {n_events:,} events over {backlog_s / 86400:.0f} days against the history", flush=True
    )
    backlog = await scoring_rate(url, accepted_events(n_events, pool, rng, spread_s=backlog_s, tag="backlog"))
    print(f"(c) stress: scoring {n_events:,} events captured within one hour", flush=True)
    dense = await scoring_rate(url, accepted_events(n_events, pool, rng, spread_s=DENSE_S, tag="dense"))
    print(f"(d) bulk-loading {n_alerts:,} alerts, then timing the list API", flush=True)
    await bulk_load_alerts(dsn, n_alerts, rng)
    settings = AlertsSettings(
        database_url=url, kafka_bootstrap=bootstrap, topic_prefix="bench.", log_json=False
    )
    latencies = await list_latency(settings, n_requests)
    print("(e) camera → ingest → alerts, each service in its own process", flush=True)
    pipe = await pipeline_phase(dsn, url, bootstrap, pool, rng, quick, backlog_s=backlog_s)

    print(
        f"\nalerts benchmark ({'quick' if quick else 'full'}; {n_hist:,} stored sightings, {n_alerts:,} alerts)"
    )
    print(f"{'measure':<56} {'value':>12} {'vs raw':>10}")
    print(f"{'raw COPY into sightings (rows/s)':<56} {copy_rate:>12,.0f} {'1.00':>10}")
    print(f"{'raw INSERT unnest, 2,000/batch (rows/s)':<56} {insert_rate:>12,.0f} {'1.00':>10}")
    print(
        f"{'raw consume of violations.accepted.v1 (msgs/s)':<56} {pipe['raw_accepted']:>12,.0f} {'1.00':>10}"
    )
    score_rate = backlog[0]
    for name, target, (rate, written, early_rate, late_rate) in (
        (
            f"scoring incl. history lookups, {backlog_s / 86400:.0f}-day backlog (events/s)",
            "; target ≥ 10,000/s",
            backlog,
        ),
        ("  stress: as many events within one hour (events/s)", "", dense),
    ):
        print(
            f"{name:<56} {rate:>12,.0f} {rate / insert_rate:>9.2f}x  (of raw INSERT, 1 process{target}; "
            f"{written / n_events:.2f} alert writes per event; timed from the 2nd batch)"
        )
        print(
            f"{'    first fifth / last two fifths of the events':<56} {early_rate:>12,.0f} {late_rate:>10,.0f}"
        )
    print(
        f"{'  beside: ingest pipeline, same run (events/s, 1 process)':<56} {pipe['ingest']:>12,.0f} "
        f"{pipe['ingest'] / pipe['raw_accepted']:>9.2f}x  (of raw consume)"
    )
    print(
        f"{'  beside: alerts consumer via Kafka, same run (events/s)':<56} {pipe['alerts']:>12,.0f} "
        f"{pipe['alerts'] / pipe['raw_accepted']:>9.2f}x  (of raw consume; scoring / ingest = "
        f"{score_rate / pipe['ingest']:.2f})"
    )
    raw_p99 = latencies[0][2]
    print(f"\n{'query':<56} {'p50 ms':>8} {'p99 ms':>8} {'p99 vs raw':>11}")
    for name, p50, p99 in latencies:
        print(f"{name:<56} {p50:>8.1f} {p99:>8.1f} {p99 / raw_p99:>10.1f}x")
    print("(target: GET /v1/alerts p99 < 50 ms)")

    hop = pipe["hop"]
    print(
        f"\n{'camera event → alert visible, at 1,000 events/s':<56} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    rows = [
        (f"raw: one Kafka hop ({CAMERA_LINGER_MS} ms linger, 20 ms fetch wait)", hop),
        (f"via SSE, every event ({pipe['live']:,} sent, {pipe['missing']} not seen)", pipe["sse"]),
        (f"via GET /v1/alerts/{{id}}, 1 in {GET_SAMPLE} (10 ms polls; {len(pipe['get'])} seen)", pipe["get"]),
    ]
    for name, samples in rows:
        if samples:
            print(
                f"{name:<56} {pct(samples, 0.5):>8.0f} {pct(samples, 0.99):>8.0f} {max(samples) * 1000:>8.0f}"
            )
        else:
            print(f"{name:<56} {'-':>8} {'-':>8} {'-':>8}")
    print(
        "(target: p99 < 500 ms; ratio to the raw hop: "
        + (f"{pct(pipe['sse'], 0.99) / pct(hop, 0.99):.1f}x)" if pipe["sse"] and hop else "n/a)")
    )
    print(
        f"  SSE p50/p99 ms per {WINDOW_S} s of sending: "
        + "  ".join(f"{pct(w, 0.5):.0f}/{pct(w, 0.99):.0f}" for w in pipe["sse_windows"] if w)
    )
    per_batch, batch_s = pipe["batches"]
    print(
        f"alerts consumer meanwhile: {per_batch:,.0f} events per batch, {batch_s * 1000:,.0f} ms each "
        f"(busy {per_batch and 1000 * batch_s / per_batch:,.2f} ms per event at 1,000 events/s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qzx_dev.bench.alerts")
    parser.add_argument("--quick", action="store_true", help="smaller data sets")
    args = parser.parse_args(argv)
    from qzx_dev.bench import run_on_fresh_database

    run_on_fresh_database("alerts", functools.partial(run, args.quick))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
