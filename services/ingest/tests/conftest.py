from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from qzx_common.web.auth import mint_token
from qzx_dev.testing import Stack
from qzx_ingest.main import create_app
from qzx_ingest.settings import IngestSettings

# An exchange partner for Jinan only (the accident exchange tests).
PARTNERS = {"jinan": {"secret": "jinan-secret-0123456789", "admin_prefix": "3701"}}


@pytest.fixture(scope="session")
def stack(stack: Stack) -> Stack:
    """ingest's own topics: other packages' messages never reach this package's consumers."""
    return stack.isolated("ingest")


@pytest.fixture(scope="session")
def ingest_settings(stack: Stack) -> IngestSettings:
    return IngestSettings(
        **stack.db_settings(),
        kafka_bootstrap=stack.bootstrap,
        topic_prefix=stack.topic_prefix,
        log_json=False,
        exchange_keys=orjson.dumps(PARTNERS).decode(),
    )


@pytest.fixture(scope="session")
async def ingest(ingest_settings: IngestSettings) -> AsyncIterator[Any]:
    """The ingest app with its consumer running, in this event loop."""
    app = create_app(ingest_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def client(ingest: Any, ingest_settings: IngestSettings) -> AsyncIterator[httpx.AsyncClient]:
    token = mint_token(secret=ingest_settings.jwt_secret, sub="p-1", role="province_commander", jur="37")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ingest),
        base_url="http://ingest",
        headers={"Authorization": f"Bearer {token}"},
    ) as c:
        yield c
