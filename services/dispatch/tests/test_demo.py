"""The demo organisation: every city covered around the clock, idempotent seeding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from qzx_common.contracts.geo import CITIES
from qzx_dev.demo.seed import seed_organisation
from qzx_dispatch.clock import local_date, local_midnight
from qzx_dispatch.tasks import repository

from .conftest import OffsetClock

pytestmark = [pytest.mark.db]


async def test_demo_covers_every_city_every_hour_and_seeds_once(
    fresh: Any, api: Callable[..., httpx.AsyncClient], clock: OffsetClock
) -> None:
    sessions = fresh.state.runtime.sessions
    for _ in range(2):  # through the API, as `make run` seeds it
        await seed_organisation(api(sub="demo-seeder"), now=clock.now())
    async with sessions() as s:
        units = await s.scalar(text("SELECT count(*) FROM dispatch.units"))
        aux_only = await s.scalar(
            text(
                "SELECT count(*) FROM dispatch.units u WHERE NOT EXISTS (SELECT 1 FROM dispatch.unit_members m "
                "JOIN dispatch.officers o ON o.id = m.officer_id WHERE m.unit_id = u.id AND o.kind = 'sworn')"
            )
        )
        assert units == 16 * 15 and aux_only == 16 * 2
        today = local_midnight(local_date(clock.now()))
        for hour in range(0, 48, 1):
            at = today + timedelta(hours=hour, minutes=30)
            on_duty = await repository.on_duty(s, cities=[c.code for c in CITIES], now=at)
            for city in CITIES:
                mine = [c for c in on_duty if c.city_code == city.code]
                enforcing = [c for c in mine if c.has_sworn]
                for cap in ("breathalyser", "weighing", "pursuit", "interception", "ebike"):
                    assert any(cap in c.capabilities for c in enforcing), (city.name, hour, cap)
                assert any(not c.has_sworn for c in mine), (city.name, hour)
