"""settle_heap: the collector tuned for a service, its pauses measured."""

from __future__ import annotations

import gc

from qzx_common.runtime import GC_PAUSE_SECONDS, settle_heap


def _pauses(generation: str) -> float:
    GC_PAUSE_SECONDS.labels(generation)  # reported from zero before its first collection
    return next(
        s.value
        for s in GC_PAUSE_SECONDS.collect()[0].samples
        if s.name.endswith("_count") and s.labels["generation"] == generation
    )


def test_each_collection_is_timed_once_however_often_the_heap_is_settled() -> None:
    settle_heap()
    settle_heap()  # the app factory may run more than once in a process (tests)
    before = _pauses("2")

    gc.collect()

    assert _pauses("2") == before + 1
    assert gc.get_threshold()[0] == 100_000
