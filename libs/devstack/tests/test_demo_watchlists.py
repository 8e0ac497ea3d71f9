"""The demo's hazard points and hotlist entries, seeded through alerts' API: all of them, and a
second seeding (every `make run` start) adds nothing. The organisation's seeding is tested with
dispatch (services/dispatch/tests/test_demo.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import pytest

from qzx_alerts.main import create_app
from qzx_alerts.settings import AlertsSettings
from qzx_dev.demo.seed import seed_watchlists, seeder_client
from qzx_dev.demo.world import HAZARDS, HOTLIST
from qzx_dev.embedded import create_database, drop_database
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka]


@pytest.fixture(scope="module")
def own_stack(stack: Stack) -> Iterator[Stack]:
    """A database of our own: the demo's hazards would change other tests' scores."""
    name = f"qzx_demo_{uuid.uuid4().hex[:8]}"
    url = create_database(stack.server_url, name)
    yield replace(stack.isolated("demo"), database_url=url)
    drop_database(stack.server_url, name)


@pytest.fixture(scope="module")
async def alerts(own_stack: Stack) -> AsyncIterator[tuple[Any, str]]:
    """The alerts app (no consumers) and its token secret."""
    settings = AlertsSettings(
        **own_stack.db_settings(),
        kafka_bootstrap=own_stack.bootstrap,
        topic_prefix=own_stack.topic_prefix,
        log_json=False,
    )
    app = create_app(settings, consume=False)
    async with app.router.lifespan_context(app):
        yield app, settings.jwt_secret


async def test_the_watchlists_are_seeded_once_through_the_api(alerts: tuple[Any, str]) -> None:
    app, secret = alerts
    async with seeder_client(secret, url="http://alerts", app=app) as client:
        for _ in range(2):
            await seed_watchlists(client)
        hazards = (await client.get("/v1/hazards", params={"limit": 100})).json()["items"]
        hotlist = (await client.get("/v1/hotlists", params={"limit": 100})).json()["items"]
    assert sorted(h["name"] for h in hazards) == sorted(name for _, name, *_ in HAZARDS)
    assert sorted(e["plate"] for e in hotlist) == sorted(plate for plate, *_ in HOTLIST)
