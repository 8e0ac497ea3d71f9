"""Throttling of repeated authentication failures, per client address (in-process token bucket).

Only failures are counted and only failures are refused: each failed token or signature check
takes one token from the client's bucket, and a failure that finds the bucket empty is answered
``429 too_many_auth_failures`` with a ``Retry-After`` header instead of its 401. A valid credential
always passes, so people behind one proxy address are never locked out by someone else's bad
tokens. Defaults (settings ``auth_failure_burst`` / ``auth_failure_refill_per_s``): a burst of 20
failures, then one every 5 s. Buckets are per replica: N replicas allow at most N times the rate,
which is still far below what guessing a secret needs. The address is the peer's, or the one a
trusted proxy forwarded (``QZX_FORWARDED_ALLOW_IPS``, see ``limits.install_request_guards``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from qzx_common.metrics import AUTH_THROTTLED
from qzx_common.web.errors import ApiError


class TooManyFailures(ApiError):
    status_code = 429
    code = "too_many_auth_failures"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class FailureThrottle:
    """Token buckets keyed by client address; memory is bounded by pruning full buckets."""

    MAX_TRACKED = 10_000

    def __init__(
        self, *, burst: int, refill_per_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or refill_per_s <= 0:
            raise ValueError("burst must be >= 1 and refill_per_s > 0")
        self.burst = burst
        self.refill_per_s = refill_per_s
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def _refilled(self, client: str) -> _Bucket | None:
        bucket = self._buckets.get(client)
        if bucket is None:
            return None
        now = self.clock()
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.refill_per_s)
        bucket.stamp = now
        return bucket

    def failed(self, client: str) -> None:
        """Count one failure of ``client``; raise 429 when it has used up its failures."""
        bucket = self._refilled(client)
        if bucket is None:
            if len(self._buckets) >= self.MAX_TRACKED:
                self._prune()
            bucket = self._buckets[client] = _Bucket(float(self.burst), self.clock())
        if bucket.tokens < 1:
            AUTH_THROTTLED.inc()
            wait = math.ceil((1 - bucket.tokens) / self.refill_per_s)
            raise TooManyFailures(
                f"too many failed authentications from {client}; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        bucket.tokens -= 1

    def _prune(self) -> None:
        now = self.clock()
        for client, b in list(self._buckets.items()):
            if b.tokens + (now - b.stamp) * self.refill_per_s >= self.burst:
                del self._buckets[client]
        if len(self._buckets) >= self.MAX_TRACKED:  # under attack from many addresses: forget the oldest
            for client in sorted(self._buckets, key=lambda c: self._buckets[c].stamp)[
                : self.MAX_TRACKED // 10
            ]:
                del self._buckets[client]
