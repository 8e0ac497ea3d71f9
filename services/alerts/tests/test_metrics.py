"""The alert gauges: a new alert with no task is pending under its priority until it is dismissed."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import REGISTRY

from qzx_alerts.alerts.metrics import sample_alerts


async def sampled(alerts: Any, priority: str) -> tuple[float, float]:
    async with alerts.state.runtime.engine.connect() as conn:
        await sample_alerts(conn)
    labels = {"priority": priority}
    return (
        REGISTRY.get_sample_value("qzx_alerts_pending", labels) or 0.0,
        REGISTRY.get_sample_value("qzx_alerts_pending_oldest_age_seconds", labels) or 0.0,
    )


async def test_a_new_alert_is_pending_until_it_is_dismissed(
    alerts: Any, score: Any, make: Any, client: httpx.AsyncClient
) -> None:
    plate = make.plate()
    await score([make.accepted(plate=plate)])
    (alert,) = (await client.get("/v1/alerts", params={"plate": plate})).json()["items"]
    assert alert["status"] == "new"
    pending, oldest = await sampled(alerts, alert["priority"])
    assert pending >= 1 and oldest > 0
    r = await client.post(f"/v1/alerts/{alert['id']}/dismiss", json={"reason": "metrics test"})
    assert r.status_code == 200, r.text
    assert (await sampled(alerts, alert["priority"]))[0] == pending - 1
