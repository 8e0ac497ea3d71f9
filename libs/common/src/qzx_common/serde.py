"""JSON on the wire: orjson, UTF-8."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel


def dumps(value: Any) -> bytes:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return orjson.dumps(value)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
