"""Opaque keyset cursors: base64url of a small JSON list of the last row's sort key.

A cursor comes back from the client, so each element is checked against the type its list
declares before it reaches a query (``decode_cursor(cursor, datetime, str)``): a value of the
wrong type, or one the database cannot hold, is ``422 invalid_cursor``, never a driver error.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from qzx_common.contracts.events import PLATE_RE
from qzx_common.web.errors import InvalidRequest

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_INT64_MAX = 2**63 - 1
_MAX_TEXT = 256  # longer than any id this API writes into a cursor


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode().rstrip("=")


def _invalid() -> InvalidRequest:
    return InvalidRequest("cursor: not a cursor this API returned", code="invalid_cursor")


def _element(value: Any, kind: type) -> Any:
    """``value`` as ``kind`` (a non-negative int64, text without NUL, or an aware datetime in UTC)."""
    if kind is int and type(value) is int and 0 <= value <= _INT64_MAX:
        return value
    if kind is str and isinstance(value, str) and len(value) <= _MAX_TEXT and "\x00" not in value:
        return value
    if kind is datetime and isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
            if at.tzinfo is not None:
                return at.astimezone(UTC)  # OverflowError: outside years 1-9999 once in UTC
        except (ValueError, OverflowError):
            pass
    raise _invalid()


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The key an ``encode_cursor`` call wrote, one element per type in ``types`` (int, str or
    datetime); 422 ``invalid_cursor`` for anything else."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise _invalid() from exc
    if not isinstance(key, list) or len(key) != len(types):
        raise _invalid()
    return tuple(_element(value, kind) for value, kind in zip(key, types, strict=True))


Row = TypeVar("Row")


def fetch_size(limit: int) -> int:
    """Rows to fetch for a page of ``limit``: one more tells whether another page follows."""
    return limit + 1


def page(rows: Sequence[Row], limit: int, cursor_of: Callable[[Row], str]) -> tuple[list[Row], str | None]:
    """The page of ``fetch_size(limit)`` fetched rows, and the cursor of its last row if more follow."""
    if len(rows) <= limit:
        return list(rows), None
    kept = list(rows[:limit])
    return kept, cursor_of(kept[-1])


def encode_time_cursor(at: datetime, ident: str) -> str:
    """The position after (``at``, ``ident``) in a list ordered newest first (``decode_time_cursor``)."""
    return encode_cursor(at.isoformat(), ident)


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (timestamp, id) position of a list ordered newest first, from ``encode_time_cursor``."""
    if not cursor:
        return None
    at, ident = decode_cursor(cursor, datetime, str)
    return at, ident


def plate_filter(plate: str | None) -> str | None:
    """A ``plate=`` query value, normalised like stored plates; 422 ``invalid_plate`` otherwise."""
    if plate is None:
        return None
    value = plate.strip().upper()
    if not PLATE_RE.match(value):
        raise InvalidRequest(f"plate: {value!r} is not a valid plate", code="invalid_plate")
    return value
