"""The soak's SSE reader: it counts every alert event, keeps the last event id, and times only the
first sight of an alert (on the one stream that reads the events)."""

from __future__ import annotations

import time

import orjson

from qzx_dev.soak.clients import CAMERA_TO_CONSOLE, SentTimes, _read_blocks
from qzx_dev.soak.stats import Window


def block(change_id: int, alert: dict[str, object]) -> bytes:
    return b"id: %d\nevent: alert\ndata: %s" % (change_id, orjson.dumps(alert))


def test_alert_events_are_counted_and_the_last_id_kept() -> None:
    w, sent = Window(), SentTimes()
    blocks = [b"retry: 1000", block(7, {"status": "new", "count": 2}), b": keep-alive", block(9, {})]
    assert _read_blocks(blocks, w, sent, timed=False) == "9"
    assert w.sse_events == 2 and not w.latencies
    assert _read_blocks([b": keep-alive"], w, sent, timed=False) is None


def test_the_timed_stream_times_an_alerts_first_sight_only() -> None:
    w, sent = Window(), SentTimes()
    sent.record("E-1", time.time() - 0.25)
    sent.record("E-2", time.time())
    first = block(1, {"status": "new", "count": 1, "event_ids": ["E-1"]})
    later = block(2, {"status": "new", "count": 2, "event_ids": ["E-2"]})
    assert _read_blocks([first, later], w, sent, timed=True) == "2"
    [age] = w.latencies[CAMERA_TO_CONSOLE]
    assert 0.2 < age < 5
