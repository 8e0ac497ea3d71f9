"""Backpressure on held long-polls: past the per-process cap (QZX_LONG_POLL_MAX_HELD) a poll is
answered 503 over_capacity with Retry-After at once; a place is given back when its poll answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from qzx_common.web.capacity import Capacity
from qzx_dev.testing import eventually

from .conftest import Org

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def test_long_polls_past_the_cap_get_503_with_retry_after_and_places_come_back(
    fresh: Any, api: Api, org: Org, dispatch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        dispatch.state.service, "long_polls", Capacity("long-polls", limit=2, retry_after_s=7)
    )
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    held = [
        asyncio.create_task(phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 3})) for _ in range(2)
    ]

    async def both_held() -> bool:
        return bool(dispatch.state.service.long_polls.held == 2)

    await eventually(both_held, timeout=10)
    refused = await phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 3})
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "7"
    body = refused.json()
    assert body["error"] == "over_capacity" and "retry after 7 s" in body["detail"]
    assert all(not t.done() for t in held), "the held polls were disturbed"
    assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
    assert dispatch.state.service.long_polls.held == 0
    again = await phone.get("/v1/patrol/tasks", params={"cursor": 0, "wait": 0})
    assert again.status_code == 200, again.text
