"""Where a process's memory goes, for an operator chasing a growing RSS: with ``QZX_HEAP_REPORT_S``
set, tracemalloc records every allocation and each report logs the allocation sites that grew most
since the first report. A leak shows as a site that grows report after report; a backlog as one
that shrinks again once it drains. Diagnosis only: tracing slows a process markedly."""

from __future__ import annotations

import gc
import logging
import tracemalloc

log = logging.getLogger(__name__)

_IGNORED = [
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap*"),
]


class HeapReport:
    def __init__(self, *, top: int = 12, frames: int = 6) -> None:
        self.top = top
        self.first: tracemalloc.Snapshot | None = None
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)

    def snapshot(self) -> tracemalloc.Snapshot:
        gc.collect()  # what only a full collection frees is not growth
        return tracemalloc.take_snapshot().filter_traces(_IGNORED)

    def render(self, now: tracemalloc.Snapshot) -> str:
        assert self.first is not None
        traced, peak = tracemalloc.get_traced_memory()
        # the allocating line first, then its callers
        lines = [
            f"traced {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f}); grown most since the first report:"
        ]
        for stat in now.compare_to(self.first, "traceback")[: self.top]:
            where = " <- ".join(
                f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in reversed(stat.traceback)
            )
            lines.append(f"  {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+9,d} blocks  {where}")
        return "\n".join(lines)

    async def report(self) -> None:
        now = self.snapshot()
        if self.first is None:
            self.first = now
            log.warning("heap report: tracing allocations; the first report is the baseline")
            return
        log.warning("heap report: %s", self.render(now))
