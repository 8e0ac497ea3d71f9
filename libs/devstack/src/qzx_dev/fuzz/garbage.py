"""Garbage for an internal topic (violations.accepted.v1, alerts.v1, dispatch.tasks.v1): bytes no
consumer can take, every one of which must end in that consumer's dead letters with a reason.

With ``sample`` (a real record of the topic, as a dict) the garbage includes that record with one
field given a value of a type no contract accepts, or removed; without, raw garbage only."""

from __future__ import annotations

import json
import random
from typing import Any

BAD_VALUES: tuple[Any, ...] = ({"nested": {"deep": [1]}}, [[], [{}]], {"": None})


def garbage(rng: random.Random, n: int, *, sample: dict[str, Any] | None = None) -> list[bytes]:
    makers = [_raw, _utf8, _nested, _shape]
    if sample:
        makers += [_wrong_field, _without_field]
    return [rng.choice(makers)(rng, sample or {}) for _ in range(n)]


def _raw(rng: random.Random, _: dict[str, Any]) -> bytes:
    return rng.choice((b"", b"\x00", b"not json", b"{", b"[1,", rng.randbytes(rng.randint(1, 256))))


def _utf8(rng: random.Random, sample: dict[str, Any]) -> bytes:
    raw = bytearray(json.dumps(sample or {"id": "x"}, ensure_ascii=False).encode())
    raw.insert(rng.randrange(1, len(raw)), rng.choice((0xFF, 0xC0, 0x80)))
    return bytes(raw)


def _nested(rng: random.Random, _: dict[str, Any]) -> bytes:
    depth = rng.choice((2000, 100_000))
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


def _shape(rng: random.Random, _: dict[str, Any]) -> bytes:
    return rng.choice((b"null", b"0", b"1e999", b'"text"', b"[]", b"[{}]", b"{}", b'{"id":null}', b"true"))


def _fresh(rng: random.Random, sample: dict[str, Any]) -> dict[str, Any]:
    """``sample`` with new ids: the same ids again would be a duplicate, dropped before it is read."""
    return {
        k: f"fuzz-{rng.getrandbits(48):x}" if k.endswith("id") and isinstance(v, str) else v
        for k, v in sample.items()
    }


def _wrong_field(rng: random.Random, sample: dict[str, Any]) -> bytes:
    """The real record with one of its text fields (an id, a state) made an object or a list."""
    doc = _fresh(rng, sample)
    texts = sorted(k for k, v in doc.items() if isinstance(v, str)) or sorted(doc)
    doc[rng.choice(texts)] = rng.choice(BAD_VALUES)
    return json.dumps(doc, ensure_ascii=False).encode()


def _without_field(rng: random.Random, sample: dict[str, Any]) -> bytes:
    """The real record with all but one of its fields (not an id) gone."""
    name = rng.choice(sorted(k for k in sample if not k.endswith("id")) or sorted(sample))
    return json.dumps({name: sample[name]}, ensure_ascii=False).encode()
