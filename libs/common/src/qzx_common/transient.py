"""Which failures pass by themselves: a lost connection, a server restarting, a serialization
conflict, a broker's leader election. Consumers and relays retry those with backoff; anything else
is taken to belong to the record or row at hand, which is isolated and set aside with its reason."""

from __future__ import annotations

import random

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE classes a retry can outlive: connection exceptions, transaction rollbacks (serialization
# failures, deadlocks), insufficient resources, operator intervention (shutdowns, cancels, "the
# database system is starting up"), system errors; and lock_not_available (lock_timeout).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "58")
_TRANSIENT_SQLSTATES = ("55P03",)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a failure that a later attempt may not meet."""
    for cause in _chain(exc):
        if isinstance(cause, (ConnectionError, TimeoutError, DisconnectionError, PoolTimeoutError)):
            return True
        if isinstance(cause, OSError):
            return True
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, asyncpg.PostgresError):
            state = str(getattr(cause, "sqlstate", "") or "")
            if state[:2] in _TRANSIENT_SQLSTATE_CLASSES or state in _TRANSIENT_SQLSTATES:
                return True
        if isinstance(cause, asyncpg.InterfaceError) and "closed" in str(cause):
            return True
        if isinstance(cause, KafkaError) and cause.retriable:
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, what it wraps (SQLAlchemy's ``orig``) and its causes, without cycles."""
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "orig", None)]
    return seen


def backoff_s(attempt: int, *, first_s: float = 0.5, max_s: float = 30.0) -> float:
    """Exponential backoff for the ``attempt``-th retry (1, 2, ...), half of it jittered so that
    replicas that failed together do not retry together."""
    ceiling = min(max_s, first_s * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
