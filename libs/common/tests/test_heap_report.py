"""The heap report names the allocation site that grew since the first report, by how much."""

from __future__ import annotations

import logging
import tracemalloc

import pytest

from qzx_common.heap_report import HeapReport

kept: list[bytes] = []


def grow() -> None:
    kept.extend(bytes(1024) + bytes([i % 256]) for i in range(4096))  # ~4 MiB that stays


async def test_a_growing_site_leads_the_report(caplog: pytest.LogCaptureFixture) -> None:
    report = HeapReport(top=3)
    try:
        with caplog.at_level(logging.WARNING, logger="qzx_common.heap_report"):
            await report.report()  # the baseline
            grow()
            await report.report()
    finally:
        tracemalloc.stop()
        kept.clear()

    baseline, grown = (r.getMessage() for r in caplog.records)
    assert "baseline" in baseline
    first = grown.splitlines()[1]
    assert "test_heap_report.py:" in first, grown
    assert float(first.split()[0]) > 3.5, grown  # MiB
