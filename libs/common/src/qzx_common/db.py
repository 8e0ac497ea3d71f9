"""Async SQLAlchemy 2 on asyncpg: engine, sessions, naming conventions, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import ColumnElement, MetaData, event, literal, text, tuple_
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import QueryableAttribute

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata for a service's declarative base: its tables live in the service's own schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 60.0
IDLE_TRANSACTION_TIMEOUT_S = 30.0
RECYCLE_S = 1800


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    session_sql: Sequence[str] = (),
    command_timeout_s: float | None = COMMAND_TIMEOUT_S,
    idle_transaction_timeout_s: float = IDLE_TRANSACTION_TIMEOUT_S,
    application_name: str | None = None,
) -> AsyncEngine:
    """A pool that checks its connections without a round trip. ``pool_pre_ping`` would cost every
    checkout a BEGIN, a query and a ROLLBACK with asyncpg (a third of a small consumer batch's round
    trips); instead a connection whose socket the server has closed (a restart, a failover) is
    replaced at checkout, and one that fails in use is replaced then (a consumer retries its batch,
    an API request answers 503: ``web.errors``).

    JSON read from json/jsonb columns is parsed by orjson, several times faster than the standard
    library on alert factors and payloads.

    A partition (traffic lost, nothing closed) leaves connections half-open: the socket looks
    alive and an answer never comes. So every command gives up after ``command_timeout_s``
    (asyncpg's ``command_timeout``; None for none, migrations), the connection it ran on is
    discarded (its reset fails too), and the ``TimeoutError`` is
    transient (``qzx_common.transient``): a consumer retries its batch on a fresh connection. The
    server, for its side, ends a transaction left idle for ``idle_transaction_timeout_s`` (its
    client gone mid-batch: its locks would otherwise block every later batch) and probes silent
    clients with TCP keepalives. ``pool_recycle`` replaces connections a middlebox may have
    forgotten.

    ``session_sql`` runs (and commits) on every new connection: a service's temporary tables, say.
    ``application_name`` names the connections in ``pg_stat_activity`` (which service holds them)."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_recycle=RECYCLE_S,
        json_deserializer=orjson.loads,
        # A server that is gone answers nothing: give up on a new connection after this, not
        # asyncpg's 60 s, so consumers retry and probes and requests answer while it is away.
        connect_args={
            "timeout": CONNECT_TIMEOUT_S,
            "command_timeout": command_timeout_s,
            "server_settings": {
                "idle_in_transaction_session_timeout": str(int(idle_transaction_timeout_s * 1000)),
                "tcp_keepalives_idle": "30",
                "tcp_keepalives_interval": "10",
                "tcp_keepalives_count": "3",
            }
            | ({"application_name": application_name} if application_name else {}),
        },
    )
    event.listen(engine.sync_engine, "checkout", _replace_if_closed)
    if session_sql:
        event.listen(engine.sync_engine, "connect", _session_setup(session_sql))
    return engine


def _session_setup(statements: Sequence[str]) -> Callable[[Any, Any], None]:
    def setup(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for sql in statements:
            cursor.execute(sql)
        cursor.close()
        dbapi_connection.commit()

    return setup


def _replace_if_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")  # the pool takes another


async def driver_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under SQLAlchemy's, for COPY and array-bound bulk statements.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it runs itself;
    statements sent straight to the driver before that would each autocommit, and a crash between
    them would keep half a batch. So when the caller is in a transaction, the driver is put in it.
    """
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    if conn.in_transaction() and not driver.is_in_transaction():
        await conn.exec_driver_sql("SELECT 1")
    return driver


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def wait_for_database(engine: AsyncEngine, *, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except (OSError, ConnectionError, Exception) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"database not reachable after {timeout:.0f}s: {exc}") from exc
            await asyncio.sleep(0.5)


def run_migrations(*, url: str, migrations_dir: Path, schema: str, grant_to: str | None = None) -> None:
    """Upgrade one service's Alembic chain to head (blocking; call through a thread), then, with
    ``grant_to``, grant that role what the service needs (``service_grants``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["schema"] = schema
    cfg.attributes["grant_to"] = grant_to
    command.upgrade(cfg, "head")


async def migrate(*, url: str, migrations_dir: Path, schema: str, grant_to: str | None = None) -> None:
    await asyncio.to_thread(
        run_migrations, url=url, migrations_dir=migrations_dir, schema=schema, grant_to=grant_to
    )


# Every schema a service chain creates: its own, and the shared token deny-list.
SHARED_SCHEMAS = ("qzx_auth",)
# Serialises the grants of replicas and services migrating at once (concurrent GRANTs on one
# object fail with "tuple concurrently updated").
GRANT_LOCK = 0x71A06A47


def service_grants(schema: str, role: str, *, tables: Collection[str]) -> list[str]:
    """What a service's own role may do in ``schema`` (holding ``tables``), exactly: earlier grants
    are revoked first. It reads and writes the tables, except the audit log (INSERT and SELECT
    only) and Alembic's version table (SELECT); it owns nothing, so it can neither run DDL nor
    disable a trigger. It may call the schema's functions: what DDL a service does run (ingest's
    passage partitions) is a SECURITY DEFINER function that its migration wrote."""
    s, r = quote_ident(schema), quote_ident(role)
    read_only = {"audit_log": "UPDATE, DELETE", "alembic_version": "INSERT, UPDATE, DELETE"}
    return [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"REVOKE CREATE ON SCHEMA {s} FROM {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {r}",
        *(f"REVOKE {what} ON {s}.{t} FROM {r}" for t, what in read_only.items() if t in tables),
    ]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def before_key(columns: Sequence[QueryableAttribute[Any]], key: Sequence[Any]) -> ColumnElement[bool]:
    """Keyset paging, newest first: the rows after ``key`` in descending ``columns`` order, as one
    row comparison (not an OR), so that it bounds a scan of the (columns...) index."""
    values = [literal(v, c.type) for c, v in zip(columns, key, strict=True)]
    return tuple_(*columns) < tuple_(*values)
