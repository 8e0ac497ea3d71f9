"""An alerts.v1 value that is not an Alert is dead-lettered (``GET /v1/dlq``, alerts.v1.dlq) and
the alerts behind it still get their tasks. Over the real broker and database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from qzx_common.topics import ALERTS
from qzx_dev.testing import Stack, eventually
from qzx_dispatch.tasks.models import TaskRow

from .conftest import Org, make_alert

pytestmark = [pytest.mark.db, pytest.mark.kafka]


async def test_an_unreadable_alert_is_dead_lettered_and_the_next_one_dispatched(
    stack: Stack, producer: Any, dispatch: Any, org: Org, api: Callable[..., httpx.AsyncClient]
) -> None:
    await org.unit()
    tag = uuid.uuid4().hex[:8]
    alert = make_alert(id=f"A-{tag}")
    key = alert.id.encode()  # one key: the bad value stands in front of the good one
    await producer.send(stack.topic_prefix + ALERTS, f'{{"id": "{tag}"}}'.encode(), key=key)
    await producer.send(stack.topic_prefix + ALERTS, alert.model_dump_json().encode(), key=key)
    await producer.flush()

    async def tasked() -> TaskRow | None:
        async with dispatch.state.runtime.sessions() as s:
            return (await s.scalars(select(TaskRow).where(TaskRow.alert_id == alert.id))).first()

    await eventually(tasked, timeout=30)
    items = (await api().get("/v1/dlq")).json()["items"]
    [letter] = [d for d in items if tag in d["raw"]]
    assert letter["source"] == ALERTS and letter["consumer"] == "qzx-dispatch"
    assert "not an Alert" in letter["error"]


async def test_only_province_wide_callers_read_the_dead_letters(
    api: Callable[..., httpx.AsyncClient],
) -> None:
    """Raw dead letters carry admin codes nobody has checked: a city never reads them."""
    response = await api(role="city_commander", jur="3701").get("/v1/dlq")
    assert response.status_code == 403
