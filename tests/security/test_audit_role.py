"""The audit log's append-only trigger holds against the services themselves: they connect as a role
that owns nothing (migrations run as the owner and grant it INSERT and SELECT on ``audit_log``), so
a service, or whoever takes one over, can neither disable the trigger nor rewrite an entry."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from qzx_common.settings import to_plain_url
from qzx_dev.testing import Stack

SCHEMAS = ("ingest", "alerts", "dispatch")
INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
def service_role(stack: Stack) -> str:
    if stack.service_role is None:
        pytest.skip(f"the services run as the owner on this server: {stack.no_service_role}")
    return stack.service_role


@pytest.fixture
def apps(ingest_app: Any, alerts_app: Any, dispatch_app: Any) -> dict[str, Any]:
    return {"ingest": ingest_app, "alerts": alerts_app, "dispatch": dispatch_app}


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_the_services_role_cannot_disable_the_trigger_nor_rewrite_entries(
    schema: str, service_role: str, apps: dict[str, Any]
) -> None:
    engine = apps[schema].state.runtime.engine  # the service's own connections
    async with engine.begin() as conn:
        assert await conn.scalar(text("SELECT current_user")) == service_role
        entry = await conn.scalar(
            text(
                f"INSERT INTO {schema}.audit_log (actor, action, target_type, target_id) "
                "VALUES ('test', 'test.role', 'test', 'x') RETURNING id"
            )
        )
        assert await conn.scalar(text(f"SELECT actor FROM {schema}.audit_log WHERE id = :id"), {"id": entry})

    for statement in (
        f"ALTER TABLE {schema}.audit_log DISABLE TRIGGER audit_log_append_only",
        f"ALTER TABLE {schema}.audit_log DISABLE TRIGGER ALL",
        f"DROP TRIGGER audit_log_append_only ON {schema}.audit_log",
        f"UPDATE {schema}.audit_log SET actor = 'someone-else' WHERE id = {entry}",
        f"DELETE FROM {schema}.audit_log WHERE id = {entry}",
        f"TRUNCATE {schema}.audit_log",
        f"CREATE TABLE {schema}.intruder (id int)",
    ):
        with pytest.raises(DBAPIError) as refused:
            async with engine.begin() as conn:
                await conn.execute(text(statement))
        assert getattr(refused.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, (
            statement,
            refused.value,
        )


async def test_the_trigger_is_still_armed_for_the_owner(
    stack: Stack, service_role: str, apps: dict[str, Any]
) -> None:
    """The owner could disable it, but it is there and enabled: the owner's mistakes are refused too."""
    conn = await asyncpg.connect(to_plain_url(stack.database_url))
    try:
        for schema in SCHEMAS:
            armed = await conn.fetch(
                "SELECT tgname, tgenabled::text FROM pg_trigger WHERE tgrelid = $1::regclass ORDER BY tgname",
                f"{schema}.audit_log",
            )
            assert [tuple(r) for r in armed] == [
                ("audit_log_append_only", "O"),
                ("audit_log_no_truncate", "O"),
            ]
            await conn.execute(
                f"INSERT INTO {schema}.audit_log (actor, action, target_type, target_id) "
                "VALUES ('test', 'test.owner', 'test', 'x')"
            )
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(f"DELETE FROM {schema}.audit_log")
    finally:
        await conn.close()
