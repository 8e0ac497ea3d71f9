"""Generated and mutated camera messages, mixed with valid ones: wrong types, huge and tiny fields,
invalid UTF-8, deep nesting, every boundary of every field (either side of it), unusual UTC
offsets and characters, exact duplicates and reordering.

``CameraFuzz(seed).batch(n)`` gives ``n`` messages; each mutated one has an event id of its own
(where it still has one), so what ingest stores, dead-letters and drops as a duplicate adds up to
what was sent. Boundaries either side of a limit make some mutations valid: which ones end stored
is for ingest to decide; the counts must add up either way."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from qzx_dev.simulator import EventGenerator

Event = dict[str, Any]

# Every bounded field, with its limits (docs/contract.md, ViolationEvent): a mutation sets one of
# them to the limit, just inside it or just outside it.
NUMERIC_BOUNDS: dict[str, tuple[float, float]] = {
    "location.lat": (34.3, 38.5),
    "location.lon": (114.7, 122.8),
    "location.km": (0, 10000),
    "confidence": (0, 1),
    "measurements.speed_kmh": (0, 400),
    "measurements.speed_limit_kmh": (5, 150),
    "measurements.gross_weight_kg": (0, 300_000),
    "measurements.weight_limit_kg": (0, 100_000),
    "measurements.axles": (2, 12),
    "measurements.noise_db": (30, 160),
    "measurements.bac_mg_100ml": (0, 500),
    "measurements.riders": (1, 10),
}
STRING_LIMITS: dict[str, int] = {"event_id": 128, "device_id": 64, "location.road": 64}
FIELDS = (
    "event_id", "device_id", "device_kind", "captured_at", "violation", "plate", "plate_color",
    "vehicle_class", "location", "location.lat", "location.lon", "location.admin_code",
    "location.road", "location.km", "measurements", "confidence", "evidence",
)  # fmt: skip
WRONG_TYPES: tuple[Any, ...] = (
    None, True, 0, -1, 2**63, -(2**64), 1e308, -0.0, "", "x", [], [1, "a"], {}, {"a": {"b": 1}},
)  # fmt: skip
ODD_CHARS = (
    "\u202e", "\u200b", "\ufeff", "😀", "é", "e\u0301", "\x01", "\x7f", "\u2028", "鲁", "Ａ",
    "\\", '"', "'", "%s", "${x}", "\ud800",
)  # fmt: skip
OFFSETS = (
    "Z", "+00:00", "-00:00", "+14:00", "-12:00", "+14:01", "-12:01", "+05:45", "+23:59", "+08",
    "+0800", "",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FuzzMessage:
    key: bytes | None
    value: bytes
    kind: str  # "valid", "mutated", "duplicate", "garbage"
    mutation: str
    event_id: str | None  # valid ones: what must end stored


def _set(event: Event, path: str, value: Any) -> None:
    head, _, rest = path.partition(".")
    if rest:
        inner = event.get(head)
        if not isinstance(inner, dict):
            inner = event[head] = {}
        inner[rest] = value
    else:
        event[head] = value


def _drop(event: Event, path: str) -> None:
    head, _, rest = path.partition(".")
    if rest and isinstance(event.get(head), dict):
        event[head].pop(rest, None)
    else:
        event.pop(head, None)


class CameraFuzz:
    def __init__(self, *, seed: int, valid_share: float = 0.3, dup_share: float = 0.05) -> None:
        self.rng = random.Random(seed)
        self.events = EventGenerator(seed=seed, dup_share=0.0, bad_share=0.0)
        self.valid_share, self.dup_share = valid_share, dup_share
        self.sent: list[FuzzMessage] = []
        self.n = 0
        self.mutations: list[tuple[str, Callable[[Event], bytes | None]]] = [
            ("wrong_type", self.wrong_type),
            ("missing", self.missing),
            ("boundary", self.boundary),
            ("string_length", self.string_length),
            ("huge", self.huge),
            ("tiny", self.tiny),
            ("odd_characters", self.odd_characters),
            ("time_offset", self.time_offset),
            ("odd_time", self.odd_time),
            ("extra_field", self.extra_field),
            ("deep_nesting", self.deep_nesting),
            ("invalid_utf8", self.invalid_utf8),
            ("truncated", self.truncated),
            ("not_json", self.not_json),
        ]

    def batch(self, n: int) -> list[FuzzMessage]:
        out = [self.next_message() for _ in range(n)]
        for i in range(0, len(out), 50):  # reordering: each window of 50 shuffled
            window = out[i : i + 50]
            self.rng.shuffle(window)
            out[i : i + 50] = window
        return out

    def next_message(self) -> FuzzMessage:
        r = self.rng.random()
        if r < self.dup_share and self.sent:
            m = self.rng.choice(self.sent)
            return FuzzMessage(m.key, m.value, "duplicate", m.mutation, None)
        base = self.events.next_message()
        event: Event = orjson.loads(base.value)
        self.n += 1
        if r < self.dup_share + self.valid_share:
            m = FuzzMessage(base.key, base.value, "valid", "none", event["event_id"])
        else:
            name, mutate = self.rng.choice(self.mutations)
            event["event_id"] = f"fz-{self.n}-{event['event_id']}"[:128]
            value = mutate(event)
            if value is None:
                value = _json(event)
            key = base.key if self.rng.random() < 0.9 else self.rng.choice([None, b"", b"\xff\xfe" * 40])
            m = FuzzMessage(key, value, "mutated", name, None)
        self.sent.append(m)
        return m

    # --- mutations: change ``event`` in place (None) or return the bytes to send ---------------

    def wrong_type(self, event: Event) -> None:
        _set(event, self.rng.choice(FIELDS), self.rng.choice(WRONG_TYPES))

    def missing(self, event: Event) -> None:
        _drop(event, self.rng.choice(FIELDS))

    def boundary(self, event: Event) -> None:
        path, (low, high) = self.rng.choice(list(NUMERIC_BOUNDS.items()))
        limit = self.rng.choice((low, high))
        step = self.rng.choice((0, 1e-9, -1e-9, 1, -1))
        value: float = limit + step
        if path.endswith(("axles", "riders")) and step in (0, 1, -1):
            value = int(value)
        _set(event, path, value)

    def string_length(self, event: Event) -> None:
        path, limit = self.rng.choice(list(STRING_LIMITS.items()))
        length = self.rng.choice((0, 1, limit - 1, limit, limit + 1))
        text = ("a" * length) if path != "event_id" else f"fz{self.n}-".ljust(length, "z")[:length]
        _set(event, path, text)

    def huge(self, event: Event) -> None:
        size = self.rng.choice((10_000, 100_000, 400_000))
        what = self.rng.choice(("string", "list", "object", "number"))
        value: Any = {
            "string": "长" * (size // 3),
            "list": [self.rng.random() for _ in range(size // 20)],
            "object": {f"k{i}": i for i in range(size // 20)},
            "number": int("9" * 400),
        }[what]
        _set(event, self.rng.choice(FIELDS[1:]), value)

    def tiny(self, event: Event) -> None:
        _set(event, self.rng.choice(FIELDS[1:]), self.rng.choice(("", " ", {}, [], 0)))

    def odd_characters(self, event: Event) -> bytes:
        path = self.rng.choice(("plate", "device_id", "location.road", "event_id", "evidence"))
        chars = "".join(self.rng.choices(ODD_CHARS, k=self.rng.randint(1, 4)))
        if path == "evidence":
            event["evidence"] = [{"uri": f"s3://e/{chars}", "sha256": "0" * 64}]
        else:
            _set(event, path, f"{chars}{event.get(path, '')}")
        return _json(event)

    def time_offset(self, event: Event) -> None:
        at = datetime.now(UTC) - timedelta(seconds=self.rng.randint(0, 3600))
        event["captured_at"] = at.strftime("%Y-%m-%dT%H:%M:%S") + self.rng.choice(OFFSETS)

    def odd_time(self, event: Event) -> None:
        now = datetime.now(UTC)
        event["captured_at"] = self.rng.choice(
            (
                "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z", "2024-02-30T00:00:00Z", "2016-12-31T23:59:60Z",
                (now + timedelta(minutes=4)).isoformat(), (now + timedelta(minutes=6)).isoformat(),
                now.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"), now.strftime("%Y%m%dT%H%M%SZ"),
                str(int(now.timestamp())), "yesterday",
            )
        )  # fmt: skip

    def extra_field(self, event: Event) -> None:
        _set(event, self.rng.choice(("x", "location.x", "measurements.x", "__proto__")), 1)

    def deep_nesting(self, event: Event) -> bytes:
        depth = self.rng.choice((64, 600, 5000))
        nested = b"[" * depth + b"]" * depth
        return _json(event).replace(b'"evidence":[]', b'"evidence":' + nested, 1).rstrip(b"}") + (
            b',"x":' + nested + b"}"
        )

    def invalid_utf8(self, event: Event) -> bytes:
        raw = bytearray(_json(event))
        for _ in range(self.rng.randint(1, 3)):
            raw.insert(self.rng.randrange(1, len(raw) - 1), self.rng.choice((0xFF, 0xC0, 0xED, 0x80)))
        return bytes(raw)

    def truncated(self, event: Event) -> bytes:
        raw = _json(event)
        return raw[: self.rng.randint(0, len(raw) - 1)]

    def not_json(self, event: Event) -> bytes:
        return self.rng.choice(
            (b"", b"null", b"0", b'"event"', b"[]", b"{}", b"\x00" * 16, self.rng.randbytes(64), b"{" * 3)
        )


def _json(event: Event) -> bytes:
    """The standard library's JSON: integers of any size; a lone surrogate goes out as the bytes
    UTF-8 forbids (what a broken encoder sends)."""
    return json.dumps(event, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
