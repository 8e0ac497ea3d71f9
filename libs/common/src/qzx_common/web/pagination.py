"""Opaque keyset cursors: base64url of a small JSON list of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import orjson

from qzx_common.contracts.events import PLATE_RE
from qzx_common.web.errors import InvalidRequest

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest("cursor: not a cursor this API returned", code="invalid_cursor") from exc
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidRequest("cursor: not a cursor this API returned", code="invalid_cursor")
    return key


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (timestamp, id) position of a list ordered newest first, from ``encode_cursor(ts.isoformat(), id)``."""
    if not cursor:
        return None
    at, ident = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(at), str(ident)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest("cursor: not a cursor this API returned", code="invalid_cursor") from exc


def plate_filter(plate: str | None) -> str | None:
    """A ``plate=`` query value, normalised like stored plates; 422 ``invalid_plate`` otherwise."""
    if plate is None:
        return None
    value = plate.strip().upper()
    if not PLATE_RE.match(value):
        raise InvalidRequest(f"plate: {value!r} is not a valid plate", code="invalid_plate")
    return value
