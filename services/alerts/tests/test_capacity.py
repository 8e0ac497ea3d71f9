"""Backpressure on SSE streams: past the per-process cap (QZX_SSE_MAX_STREAMS) a console's stream
is answered 503 over_capacity with Retry-After; a place is given back when its stream ends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qzx_common.web.capacity import Capacity
from qzx_dev.testing import eventually

pytestmark = [pytest.mark.db]


async def test_streams_past_the_cap_get_503_with_retry_after_and_places_come_back(
    alerts: Any, server: str, bearer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = Capacity("SSE streams", limit=2, retry_after_s=9)
    monkeypatch.setattr(alerts.state.service, "sse_streams", cap)
    headers = {"Authorization": f"Bearer {bearer()}"}
    async with httpx.AsyncClient(base_url=server, timeout=10) as c:
        streams = [c.stream("GET", "/v1/alerts/stream", headers=headers) for _ in range(2)]
        opened = [await s.__aenter__() for s in streams]
        assert [r.status_code for r in opened] == [200, 200] and cap.held == 2
        refused = await c.get("/v1/alerts/stream", headers=headers)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "9"
        assert refused.json()["error"] == "over_capacity"
        for s in streams:
            await s.__aexit__(None, None, None)

        async def released() -> bool:  # the server notices the disconnects
            return cap.held == 0

        await eventually(released, timeout=10)
        async with c.stream("GET", "/v1/alerts/stream", headers=headers) as r:
            assert r.status_code == 200
