from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from qzx_common.contracts.alerts import Alert
from qzx_common.settings import to_plain_url
from qzx_common.web.auth import mint_token
from qzx_dev.testing import Stack
from qzx_dispatch.clock import SystemClock
from qzx_dispatch.main import create_app
from qzx_dispatch.settings import DispatchSettings

_serial = itertools.count(1)


class OffsetClock(SystemClock):
    """Real time plus an offset the test controls (deadlines without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def stack(stack: Stack) -> Stack:
    """dispatch's own topics: other packages' messages never reach this package's consumers."""
    return stack.isolated("dispatch")


@pytest.fixture(scope="session")
def dispatch_settings(stack: Stack) -> DispatchSettings:
    return DispatchSettings(
        **stack.db_settings(),
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        log_json=False,
        reserve_units=0,
        pending_retry_s=0.0,
        # Often enough for a test to watch the pruner (it deletes only keys a week old).
        idempotency_prune_every_s=0.2,
    )


@pytest.fixture(scope="session")
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(scope="session")
async def dispatch(dispatch_settings: DispatchSettings, clock: OffsetClock) -> AsyncIterator[Any]:
    """The dispatch app with its alerts.v1 consumer, in this event loop; the deadline watcher is
    driven by the tests (``app.state.service.watcher.tick()``)."""
    app = create_app(dispatch_settings, watch=False, clock=clock)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def fresh(dispatch: Any, clock: OffsetClock, stack: Stack) -> AsyncIterator[Any]:
    """An empty organisation and task table for the test (the session database is ours alone).
    Emptied as the owner: the service's own role may not TRUNCATE."""
    clock.offset = timedelta(0)
    dispatch.state.settings.reserve_units = 0
    conn = await asyncpg.connect(to_plain_url(stack.database_url))
    try:
        await conn.execute(
            "TRUNCATE dispatch.tasks, dispatch.alerts, dispatch.rosters, dispatch.unit_members, "
            "dispatch.unit_locations, dispatch.units, dispatch.idempotency_keys, dispatch.shift_plans, "
            "dispatch.officers, dispatch.patrol_devices, dispatch.credential_events, dispatch.task_events, "
            "dispatch.webhook_deliveries, dispatch.accident_facts CASCADE"
        )
    finally:
        await conn.close()
    yield dispatch


def token(
    settings: DispatchSettings,
    *,
    role: str = "province_commander",
    jur: str = "37",
    unit_id: str | None = None,
    sub: str | None = None,
) -> str:
    return mint_token(secret=settings.jwt_secret, sub=sub or f"p-{role}", role=role, jur=jur, unit_id=unit_id)


@pytest.fixture
async def api(
    fresh: Any, dispatch_settings: DispatchSettings
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """``api(role=..., jur=..., unit_id=...)`` → an in-process client with that identity."""
    clients: list[httpx.AsyncClient] = []

    def make(**claims: Any) -> httpx.AsyncClient:
        c = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=fresh),
            base_url="http://dispatch",
            headers={"Authorization": f"Bearer {token(dispatch_settings, **claims)}"},
            timeout=40,
        )
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


class Org:
    """Builds officers, units and rosters straight through the management API."""

    def __init__(self, client: httpx.AsyncClient, clock: OffsetClock) -> None:
        self.client = client
        self.clock = clock
        self.crews: dict[str, dict[str, str]] = {}  # unit id → kind → one officer of its crew

    def member(self, unit_id: str, kind: str = "sworn") -> str:
        """An officer of the unit's crew (on its roster when the unit was built on duty): the ``sub``
        of a patrol token that may act for the unit."""
        return self.crews[unit_id][kind]

    async def officer(
        self, kind: str = "sworn", admin_code: str = "370102", bound_to: str | None = None
    ) -> str:
        body = {
            "name": f"officer {next(_serial)}",
            "kind": kind,
            "admin_code": admin_code,
            "bound_to": bound_to,
        }
        r = await self.client.post("/v1/officers", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def unit(
        self,
        *,
        admin_code: str = "370102",
        lat: float = 36.66,
        lon: float = 117.12,
        capabilities: tuple[str, ...] = ("breathalyser", "weighing", "pursuit", "interception"),
        vehicle: str = "car",
        sworn: bool = True,
        on_duty: bool = True,
        unit_id: str | None = None,
    ) -> str:
        lead = await self.officer("sworn", admin_code)
        crew = [lead] if sworn else [await self.officer("auxiliary", admin_code, bound_to=lead)]
        crew.append(await self.officer("auxiliary", admin_code, bound_to=lead))
        unit_key = unit_id or f"U-{uuid.uuid4().hex[:8]}"
        self.crews[unit_key] = {"auxiliary": crew[-1]} | ({"sworn": lead} if sworn else {})
        body = {
            "id": unit_key,
            "call_sign": f"unit {next(_serial)}",
            "admin_code": admin_code,
            "vehicle": vehicle,
            "capabilities": list(capabilities),
            "home": {"lat": lat, "lon": lon},
            "members": crew,
        }
        r = await self.client.post("/v1/units", json=body)
        assert r.status_code == 201, r.text
        if on_duty:
            now = self.clock.now()
            r = await self.client.post(
                "/v1/rosters",
                json={
                    "unit_id": body["id"],
                    "starts_at": (now - timedelta(hours=1)).isoformat(),
                    "ends_at": (now + timedelta(hours=7)).isoformat(),
                },
            )
            assert r.status_code == 201, r.text
        return str(body["id"])


@pytest.fixture
def org(api: Callable[..., httpx.AsyncClient], clock: OffsetClock) -> Org:
    return Org(api(), clock)


def make_alert(**overrides: Any) -> Alert:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "id": f"A-{uuid.uuid4().hex[:12]}",
        "status": "new",
        "priority": "P1",
        "score": 92.0,
        "factors": [{"name": "bac", "value": 95, "contribution": 60, "why": "BAC 95 ≥ 80: drunk driving"}],
        "violations": ["drunk_driving"],
        "plate": "鲁A12345",
        "admin_code": "370102",
        "location": {
            "lat": 36.651,
            "lon": 117.120,
            "admin_code": "370102",
            "road": "G2",
            "km": 412.3,
            "device_id": None,
        },
        "first_seen": (now - timedelta(seconds=5)).isoformat(),
        "last_seen": (now - timedelta(seconds=5)).isoformat(),
        "count": 1,
        "event_ids": ["e-1"],
        "task_id": None,
        "kind": "violation",
        "version": 1,
    }
    location = overrides.pop("location", None)
    data.update(overrides)
    if location:
        data["location"] = {**data["location"], **location}
        data["admin_code"] = data["location"]["admin_code"]
    return Alert.model_validate(data)


async def assign(app: Any, alert: Alert, *, clock: OffsetClock) -> str:
    """Run the intake for one alert version in its own transaction (what the consumer does)."""
    from qzx_common.db import transaction
    from qzx_dispatch.tasks.intake import intake

    async with transaction(app.state.runtime.sessions) as s:
        return await intake(s, alert=alert, settings=app.state.settings, now=clock.now())


Check = Callable[[], Awaitable[Any]]


def bump(alert: Alert, **changes: Any) -> Alert:
    """The alert's next version (validated, as it would arrive on alerts.v1)."""
    data = alert.model_dump(mode="json") | {"version": alert.version + 1} | changes
    return Alert.model_validate(data)
