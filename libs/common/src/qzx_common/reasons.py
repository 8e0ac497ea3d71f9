"""Reasons for refusing a message: stored in a text column, sent as a Kafka header, logged, and
returned to exchange partners, so bounded and free of what PostgreSQL refuses in text (U+0000) and
of control characters that would garble a log line."""

from __future__ import annotations

import re

REASON_MAX_CHARS = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_reason(text: str) -> str:
    """``text`` made safe: control characters escaped (U+0000 becomes ``\\u0000``), at most
    ``REASON_MAX_CHARS`` characters."""
    text = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if len(text) > REASON_MAX_CHARS:
        text = text[: REASON_MAX_CHARS - 1] + "…"
    return text


def describe_exception(exc: BaseException) -> str:
    """A reason for a failure nobody foresaw: the exception's type and message."""
    return clean_reason(f"{type(exc).__name__}: {exc}")
