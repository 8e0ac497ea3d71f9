"""The soak's sampler: a process's RSS and its share of a core between two readings."""

from __future__ import annotations

import os
import time

from qzx_dev.soak.rss import RssSampler


def test_a_busy_process_shows_its_cpu_share_and_the_next_minute_starts_afresh() -> None:
    sampler = RssSampler({"me": os.getpid()}, time.monotonic(), alone=frozenset({"me"}))
    wall, cpu = time.monotonic(), time.process_time()
    sampler.sample()
    spin_until = cpu + 0.3
    while time.process_time() < spin_until:  # busy (a shared machine may give it less than a core)
        pass
    sampler.sample()
    expected = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)

    share = sampler.take_cpu()["me"]
    assert 0.7 * expected < share < 1.3 * expected, (share, expected)
    assert sampler.take_minute()["me"][0] > 10  # MiB
    assert sampler.take_cpu() == {}  # one reading left: no span to divide by yet
