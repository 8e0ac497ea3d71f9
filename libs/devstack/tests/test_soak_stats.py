"""The soak's pure figures: the RSS slope after warm-up and the per-minute percentile table."""

from __future__ import annotations

import math

from qzx_dev.soak.stats import (
    Window,
    close_minute,
    latency_table,
    percentiles,
    render_minute,
    rss_slopes,
    slope,
)


def test_slope_is_the_least_squares_gradient() -> None:
    assert slope([(0, 100.0), (1, 102.0), (2, 104.0), (3, 106.0)]) == 2.0
    assert slope([(0, 5.0), (1, 7.0), (2, 5.0), (3, 7.0)]) == 0.4
    assert math.isnan(slope([(1, 3.0)]))
    assert math.isnan(slope([(1, 3.0), (1, 4.0)]))


def test_rss_slope_leaves_out_the_warm_up() -> None:
    ramp_then_flat = [(0.0, 50.0), (0.5, 150.0), (1.0, 200.0), (1.5, 200.0), (2.0, 200.0)]
    leaking = [(t / 2, 100.0 + 3 * t / 2) for t in range(5)]
    slopes = rss_slopes({"dispatch": ramp_then_flat, "alerts": leaking}, warmup_min=1.0)
    assert slopes == {"dispatch": 0.0, "alerts": 3.0}


def test_percentile_table_per_minute_and_kind() -> None:
    w = Window(sent=120, polls=7)
    for ms in range(1, 101):  # 1..100 ms
        w.latency("sse", ms / 1000)
    minute = close_minute(1, w, {"ingest": [100.0, 110.0], "broker": []})
    assert minute.latency["sse"] == percentiles([ms / 1000 for ms in range(1, 101)])
    assert [round(v * 1000) for v in minute.latency["sse"]] == [51, 95, 99]
    assert minute.rss_mib == {"ingest": 105.0}
    table = latency_table([minute, close_minute(2, Window(), {})]).splitlines()
    assert table[1].split() == ["1", "sse", "51", "95", "99"]
    assert table[2].split() == ["2", "sse", "-", "-", "-"]


def test_client_errors_are_counted_by_kind_and_shown_most_first() -> None:
    w = Window()
    for kind in ["long-poll 503", "SSE ReadTimeout", "long-poll 503"]:
        w.client_error(kind)
    minute = close_minute(3, w, {})
    assert minute.client_errors == 3 and minute.errors == 3
    assert render_minute(minute).splitlines()[-1] == "  errors: long-poll 503 × 2, SSE ReadTimeout × 1"
