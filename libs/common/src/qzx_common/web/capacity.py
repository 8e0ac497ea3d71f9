"""Per-process caps on held requests (patrol long-polls, SSE streams): past the cap a request is
answered ``503 over_capacity`` with ``Retry-After`` at once, instead of every request slowing down
until the process falls over. A client (the patrol app, the console's EventSource) retries after
that many seconds, on this replica or, behind a load balancer, another.

One ``Capacity`` per kind of held request, kept in the app's state (built in the lifespan or the
app factory, never at import time). ``hold()`` is used as a FastAPI dependency with ``yield`` (a
long-poll: released when the response is sent); an SSE stream takes a ``Slot`` with ``acquire()``
and gives it back when the stream ends (``Slot.guard``) or its response completes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge

from qzx_common.web.errors import ApiError

HELD = Gauge("qzx_http_held_requests", "Held requests (long-polls, streams) in progress, by kind", ["kind"])
REFUSED = Counter("qzx_http_over_capacity_total", "Held requests refused 503 over the cap, by kind", ["kind"])


class OverCapacity(ApiError):
    status_code = 503
    code = "over_capacity"


class Slot:
    """One held request's place; ``release`` is idempotent (a stream's end and its response's
    completion both call it, whichever comes, so a place is never lost nor given back twice)."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.capacity.held -= 1
            HELD.labels(self.capacity.kind).dec()

    async def guard(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``body`` (a streaming response's), releasing the place when it ends."""
        try:
            async for chunk in body:
                yield chunk
        finally:
            self.release()


class Capacity:
    def __init__(self, kind: str, *, limit: int, retry_after_s: int) -> None:
        if limit < 1 or retry_after_s < 1:
            raise ValueError("limit and retry_after_s must be at least 1")
        self.kind, self.limit, self.retry_after_s = kind, limit, retry_after_s
        self.held = 0

    def acquire(self) -> Slot:
        """Take a place, or raise 503 over_capacity (with Retry-After) when none is free."""
        if self.held >= self.limit:
            REFUSED.labels(self.kind).inc()
            raise OverCapacity(
                f"服务繁忙：本进程的{self.kind}已达上限 {self.limit}，请 {self.retry_after_s} 秒后重试 / "
                f"busy: this process holds its limit of {self.limit} {self.kind}; "
                f"retry after {self.retry_after_s} s",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.held += 1
        HELD.labels(self.kind).inc()
        return Slot(self)

    @contextmanager
    def hold(self) -> Iterator[None]:
        slot = self.acquire()
        try:
            yield
        finally:
            slot.release()
