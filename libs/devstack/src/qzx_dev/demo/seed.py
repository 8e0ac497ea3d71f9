"""Seeding the demo world (``world``) through the services' public APIs, as a commander would:
idempotent (what exists already answers 409, or is merged, and is left as it is), so `make run`
seeds on every start and tops the rosters up as days pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx

from qzx_dev.demo.world import HAZARDS, HOTLIST, demo_organisation, demo_rosters
from qzx_dispatch.clock import local_date

log = logging.getLogger(__name__)

CONCURRENCY = 16  # requests in flight: most of a request is database round trips


class SeedingFailed(RuntimeError):
    pass


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)
    if response.status_code not in (200, 201, 409):  # 409: seeded before
        raise SeedingFailed(f"POST {path} {body.get('id') or body.get('name') or ''}: {response.text}")


async def _post_all(client: httpx.AsyncClient, path: str, bodies: Iterable[dict[str, Any]]) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            await _post(client, path, body)

    calls: list[Awaitable[None]] = [one(b) for b in bodies]
    await asyncio.gather(*calls)


async def seed_organisation(dispatch: httpx.AsyncClient, *, now: datetime) -> int:
    """Officers, units and their rosters (yesterday, today, tomorrow) in every city; returns how
    many units the demo has."""
    cities = demo_organisation()
    officers = [o for c in cities for o in c.officers]
    # Sworn officers first: auxiliaries are bound to them.
    for kind in ("sworn", "auxiliary"):
        await _post_all(
            dispatch,
            "/v1/officers",
            (
                {k: o[k] for k in ("id", "name", "kind", "admin_code", "skills", "bound_to")}
                for o in officers
                if o["kind"] == kind
            ),
        )
    crews: dict[str, list[str]] = {}
    for c in cities:
        for m in c.members:
            crews.setdefault(m["unit_id"], []).append(m["officer_id"])
    await _post_all(
        dispatch,
        "/v1/units",
        (
            {
                "id": u["id"],
                "call_sign": u["call_sign"],
                "admin_code": u["admin_code"],
                "vehicle": u["vehicle"],
                "capabilities": u["capabilities"],
                "home": {"lat": u["home_lat"], "lon": u["home_lon"]},
                "members": crews[u["id"]],
            }
            for c in cities
            for u in c.units
        ),
    )
    await seed_rosters(dispatch, now=now, cities=cities)
    return sum(len(c.units) for c in cities)


async def seed_rosters(
    dispatch: httpx.AsyncClient, *, now: datetime, cities: list[Any] | None = None
) -> None:
    """The demo shifts of yesterday, today and tomorrow (those there already answer 409)."""
    today = local_date(now)
    shifts = [s for c in cities or demo_organisation() for s in c.shifts]
    rosters = demo_rosters(shifts, [today - timedelta(days=1), today, today + timedelta(days=1)])
    await _post_all(
        dispatch,
        "/v1/rosters",
        (
            r
            | {
                "starts_at": r["starts_at"].isoformat(),
                "ends_at": r["ends_at"].isoformat(),
                "shift_date": r["shift_date"].isoformat(),
            }
            for r in rosters
        ),
    )


async def seed_watchlists(alerts: httpx.AsyncClient) -> None:
    """The demo hazard points (at real device positions) and hotlist entries."""
    from qzx_common.contracts.devices import DEVICES

    listed = await alerts.get("/v1/hazards", params={"limit": 200})
    listed.raise_for_status()
    known = {h["name"] for h in listed.json()["items"]}
    for index, name, radius, risk, status in HAZARDS:
        if name in known:
            continue
        d = DEVICES[index % len(DEVICES)]
        body = {"name": name, "lat": d.lat, "lon": d.lon, "radius_m": radius, "risk_level": risk}
        await _post(alerts, "/v1/hazards", body | {"status": status, "admin_code": d.admin_code})
    for plate, priority, reason, covert, owner in HOTLIST:  # entries merge by plate: posting again is a no-op
        body = {"plate": plate, "priority": priority, "reason": reason, "covert": covert, "admin_code": owner}
        await _post(alerts, "/v1/hotlists", body)


def seeder_token(secret: str, *, ttl_s: int = 7200) -> str:
    """A province commander's token for the seeding (every action in the audit is someone's)."""
    from qzx_common.web.auth import mint_token

    return mint_token(secret=secret, sub="demo-seeder", role="province_commander", jur="37", ttl_s=ttl_s)


def seeder_client(secret: str, *, url: str = "http://demo", app: Any = None) -> httpx.AsyncClient:
    """A client for one service, over the network (``url``) or in-process (``app``)."""
    transport = httpx.ASGITransport(app=app) if app is not None else None
    return httpx.AsyncClient(
        base_url=url,
        transport=transport,
        headers={"Authorization": f"Bearer {seeder_token(secret)}"},
        timeout=60,
    )


async def seed_demo(
    secret: str,
    *,
    dispatch_url: str = "http://dispatch",
    dispatch_app: Any = None,
    alerts_url: str | None = None,
    alerts_app: Any = None,
    now: datetime,
) -> int:
    """The whole demo world into running services (the watchlists only when alerts is given);
    returns how many units it has."""
    async with seeder_client(secret, url=dispatch_url, app=dispatch_app) as dispatch:
        units = await seed_organisation(dispatch, now=now)
    if alerts_url is not None or alerts_app is not None:
        async with seeder_client(secret, url=alerts_url or "http://alerts", app=alerts_app) as alerts:
            await seed_watchlists(alerts)
    return units
