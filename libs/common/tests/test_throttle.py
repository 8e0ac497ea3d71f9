from __future__ import annotations

import pytest

from qzx_common.web.throttle import FailureThrottle, TooManyFailures


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill() -> None:
    clock = Clock()
    t = FailureThrottle(burst=3, refill_per_s=0.5, clock=clock)
    for _ in range(3):
        t.failed("a")
    with pytest.raises(TooManyFailures) as info:
        t.failed("a")
    assert info.value.headers == {"Retry-After": "2"}
    t.failed("b")  # other addresses are unaffected
    clock.now += 2.0
    t.failed("a")  # one failure refilled
    with pytest.raises(TooManyFailures):
        t.failed("a")


def test_memory_stays_bounded() -> None:
    clock = Clock()
    t = FailureThrottle(burst=2, refill_per_s=1.0, clock=clock)
    t.MAX_TRACKED = 100
    for i in range(1000):
        clock.now += 0.001
        t.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(t._buckets) <= 100
