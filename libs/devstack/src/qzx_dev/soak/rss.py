"""RSS and CPU of every process of the stack, sampled: a process counts with its children
(PostgreSQL's backends, a service's workers), so a leak in any of them shows; shared buffers count
once per process that touched them, which a slope is indifferent to. The CPU share (100 % is one
core) tells which process a saturated machine spends its cores on."""

from __future__ import annotations

import asyncio
import contextlib
import time

import psutil

from qzx_dev.soak.stats import MIB

SAMPLE_S = 5.0


def tree(proc: psutil.Process, *, children: bool = True) -> list[psutil.Process]:
    return [proc, *(proc.children(recursive=True) if children else [])]


def tree_rss(proc: psutil.Process, *, children: bool = True) -> int:
    return rss_of(tree(proc, children=children))


def rss_of(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def cpu_s_of(procs: list[psutil.Process]) -> float:
    """CPU seconds of ``procs`` (each with the children it has reaped)."""
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


class RssSampler:
    """Every ``SAMPLE_S`` s: each process's RSS into the minute's list and the run's (minute, MiB)."""

    def __init__(self, pids: dict[str, int], started: float, *, alone: frozenset[str] = frozenset()) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.alone = alone  # measured without children (the driver: the stack is its children)
        self.started = started
        self.minute: dict[str, list[float]] = {name: [] for name in pids}
        self.series: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}  # (monotonic, CPU s)

    def sample(self) -> None:
        now = time.monotonic()
        at = (now - self.started) / 60
        for name, proc in self.procs.items():
            with contextlib.suppress(psutil.Error):
                procs = tree(proc, children=name not in self.alone)  # one walk for both readings
                mib = rss_of(procs) / MIB
                self.minute[name].append(mib)
                self.series[name].append((at, mib))
                self.cpu[name].append((now, cpu_s_of(procs)))

    def take_minute(self) -> dict[str, list[float]]:
        out, self.minute = self.minute, {name: [] for name in self.procs}
        return out

    def take_cpu(self) -> dict[str, float]:
        """Each process's CPU share (%) since the last call, from its first and last samples."""
        out = {}
        for name, points in self.cpu.items():
            if len(points) >= 2 and points[-1][0] > points[0][0]:
                (t0, c0), (t1, c1) = points[0], points[-1]
                out[name] = max(0.0, 100 * (c1 - c0) / (t1 - t0))
            self.cpu[name] = points[-1:]
        return out

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sample)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_S)
