"""The alerts benchmark's own arithmetic (its measurements need the whole stack: make bench)."""

from __future__ import annotations

from qzx_dev.bench.alerts_data import by_window, pct


def test_latencies_are_grouped_by_when_the_event_was_sent() -> None:
    sent = {"a": 100.0, "b": 105.0, "c": 112.0, "d": 131.0, "lost": 101.0}
    seen = {"a": 100.1, "b": 105.3, "c": 112.2, "d": 131.5}

    windows = by_window(sent, seen, 10)

    assert [[round(x, 3) for x in w] for w in windows] == [[0.1, 0.3], [0.2], [], [0.5]]


def test_no_events_no_windows() -> None:
    assert by_window({}, {}, 10) == []


def test_percentiles_are_in_milliseconds() -> None:
    samples = [i / 1000 for i in range(1, 101)]  # 1..100 ms

    assert pct(samples, 0.5) == 51
    assert pct(samples, 0.99) == 100
