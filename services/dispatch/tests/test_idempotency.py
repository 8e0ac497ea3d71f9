"""Idempotency keys are kept for the retention and then pruned by the dispatch process itself;
within the retention a retry is still answered from the stored response."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from qzx_dev.testing import eventually

from .conftest import OffsetClock, Org, assign, make_alert

pytestmark = [pytest.mark.db]
Api = Callable[..., httpx.AsyncClient]


async def _keys(app: Any, unit_id: str) -> set[str]:
    async with app.state.runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key FROM dispatch.idempotency_keys WHERE unit_id = :u"), {"u": unit_id}
        )
        return {r.key for r in rows}


async def test_keys_older_than_the_retention_are_pruned_and_younger_ones_still_replay(
    fresh: Any, api: Api, org: Org, clock: OffsetClock
) -> None:
    assert fresh.state.settings.idempotency_retention_h == 7 * 24
    unit = await org.unit()
    phone = api(role="patrol_officer", jur="3701", unit_id=unit, sub=org.member(unit))
    await assign(fresh, make_alert(), clock=clock)
    url = f"/v1/patrol/tasks/{(await phone.get('/v1/patrol/tasks')).json()['tasks'][0]['id']}"
    old, young = uuid.uuid4().hex, uuid.uuid4().hex
    assert (await phone.post(f"{url}/sign", headers={"Idempotency-Key": old})).status_code == 200
    moving = {"status": "en_route"}
    first = await phone.post(f"{url}/status", headers={"Idempotency-Key": young}, json=moving)
    assert first.status_code == 200
    assert await _keys(fresh, unit) == {old, young}

    async with fresh.state.runtime.engine.begin() as conn:  # one statement: the pruner sees both
        await conn.execute(
            text(
                "UPDATE dispatch.idempotency_keys SET created_at = now() - CASE key "
                "WHEN :old THEN interval '8 days' ELSE interval '6 days' END WHERE unit_id = :u"
            ),
            {"old": old, "u": unit},
        )

    async def pruned() -> bool:
        return old not in await _keys(fresh, unit)

    await eventually(pruned, timeout=10)
    assert await _keys(fresh, unit) == {young}
    retry = await phone.post(f"{url}/status", headers={"Idempotency-Key": young}, json=moving)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    # Past the retention a retry is a new request: the task was signed long ago.
    late = await phone.post(f"{url}/sign", headers={"Idempotency-Key": old})
    assert late.status_code == 409 and late.json()["error"] == "invalid_transition"
    assert "Idempotent-Replayed" not in late.headers
