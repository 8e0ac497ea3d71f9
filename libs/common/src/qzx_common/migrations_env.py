"""Shared body of every service's Alembic env.py: async engine, per-schema version table,
and an advisory lock so that replicas starting together migrate one at a time."""

from __future__ import annotations

import asyncio
import zlib

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from qzx_common.db import GRANT_LOCK, SHARED_SCHEMAS, service_grants


def run(metadata: MetaData, schema: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set"
    lock_id = zlib.crc32(f"qzx-migrate-{schema}".encode())

    def do_run(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, parent: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()
        if grant_to := context.config.attributes.get("grant_to"):
            grant(connection, schema, grant_to)
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
        connection.commit()

    async def main() -> None:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    asyncio.run(main())


def grant(connection: Connection, schema: str, role: str) -> None:
    """Give the service's role what it needs in its schema and the shared ones (db.service_grants)."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": GRANT_LOCK})
    for name in (schema, *SHARED_SCHEMAS):
        if not connection.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": name}):
            continue
        tables = connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": name}
        )
        for sql in service_grants(name, role, tables=set(tables)):
            connection.execute(text(sql))
    connection.commit()
