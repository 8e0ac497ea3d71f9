"""settle_heap: the collector tuned for a service, its pauses measured."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from qzx_common.runtime import settle_heap


def _pauses(generation: str) -> float:
    return REGISTRY.get_sample_value("qzx_gc_pause_seconds_count", {"generation": generation}) or 0.0


def test_each_collection_is_timed_once_however_often_the_heap_is_settled() -> None:
    settle_heap()
    settle_heap()  # the app factory may run more than once in a process (tests)
    before = _pauses("2")

    gc.collect()

    assert _pauses("2") == before + 1
    assert gc.get_threshold()[0] == 100_000
