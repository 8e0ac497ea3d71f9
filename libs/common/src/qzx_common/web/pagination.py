"""Opaque keyset cursors: base64url of a small JSON list of the last row's sort key."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

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
