"""Alerts benchmark (d): the list API's latency over stored alerts, beside a raw SELECT round trip."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from qzx_dev.bench.alerts_data import WARM_UP, log, pct


async def list_latency(settings: Any, requests: int) -> list[tuple[str, float, float]]:
    import httpx

    from qzx_alerts.main import create_app
    from qzx_common.db import driver_connection
    from qzx_common.web.auth import mint_token

    app = create_app(settings, consume=False)
    filters = [
        ("(none, province)", {}, "37"),
        ("status=new", {"status": "new"}, "37"),
        ("priority=P1", {"priority": "P1"}, "37"),
        ("violation=drunk_driving", {"violation": "drunk_driving"}, "37"),
        ("admin_code=3701 (city token)", {}, "3701"),
        (
            "status+priority+violation, city",
            {"status": "new", "priority": "P1", "violation": "overload"},
            "3702",
        ),
        ("admin_code=370102 + P2", {"admin_code": "370102", "priority": "P2"}, "37"),
        ("violation=ebike_overload (none stored)", {"violation": "ebike_overload"}, "37"),
        ("kind=racing_group (none stored)", {"kind": "racing_group"}, "37"),
        ("plate (none stored)", {"plate": "鲁A12345"}, "37"),
    ]
    results = []
    async with app.router.lifespan_context(app):
        async with app.state.runtime.engine.connect() as conn:
            raw = await driver_connection(conn)
            await relay_drained(raw)
            samples = []
            for _ in range(WARM_UP):
                await raw.fetchrow("SELECT id FROM alerts.alerts WHERE id = $1", "al-00000000")
            for _ in range(requests):
                t = time.perf_counter()
                await raw.fetchrow(
                    "SELECT id FROM alerts.alerts WHERE id = $1", f"al-{random.randrange(1000):08d}"
                )
                samples.append(time.perf_counter() - t)
            results.append(("raw: SELECT by primary key", pct(samples, 0.5), pct(samples, 0.99)))
        for name, params, jur in filters:
            token = mint_token(secret=settings.jwt_secret, sub="bench", role="dispatcher", jur=jur)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://alerts",
                headers={"Authorization": f"Bearer {token}"},
            ) as c:
                for _ in range(WARM_UP):  # first requests prepare statements and warm caches
                    assert (await c.get("/v1/alerts", params=dict(params, limit=50))).status_code == 200
                samples, cursor = [], None
                for i in range(requests):
                    q: dict[str, Any] = dict(params, limit=50)
                    if cursor and i % 2:
                        q["cursor"] = cursor  # half the requests page on
                    t = time.perf_counter()
                    r = await c.get("/v1/alerts", params=q)
                    samples.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                    cursor = r.json()["next_cursor"]
            results.append((f"GET /v1/alerts {name}", pct(samples, 0.5), pct(samples, 0.99)))
            log(f"{name}: p99 {results[-1][2]:.1f} ms")
    return results


async def relay_drained(raw: Any) -> None:
    """Wait for the service's change relay to publish the change log the scoring runs wrote (it
    has not run before). Timed while it drained, the list shared the event loop with it: about one
    request in four took 15–37 ms, and the first two filters' p99 was 23–41 ms, against at most
    15 ms for every filter once it had caught up."""
    query = (
        "SELECT count(*) FROM alerts.alert_changes WHERE id > (SELECT max(position) FROM alerts.log_cursors)"
    )
    started = time.perf_counter()
    backlog = left = await raw.fetchval(query)
    while left:
        log(f"change relay: {backlog - left:,}/{backlog:,} published")
        await asyncio.sleep(2)
        left = await raw.fetchval(query)
    if backlog:
        took = time.perf_counter() - started
        log(f"change relay: published the {backlog:,} changes in {took:.1f} s ({backlog / took:,.0f}/s)")


# --- (e) camera → ingest → alerts, each service in its own process on the same stack ----------
