"""Jurisdictions: admin-code prefixes (GB/T 2260 and the statistical township/village codes).

A prefix is ASCII digits of a level's length: 2 the province, 4 a city, 6 a county or district,
9 a township, 12 a village (docs/design.md §1). Tokens' ``jur`` and exchange partners' ``admin_prefix``
must lie within the configured province (``QZX_PROVINCE_CODE``, default 37); every API filter on
an admin code has the same shape (``ADMIN_PREFIX_PATTERN``) and is then scoped by the caller's
jurisdiction, so a code of another province matches nothing the caller may see.
"""

from __future__ import annotations

import re
from typing import TypeGuard

LEVEL_LENGTHS = (2, 4, 6, 9, 12)
PROVINCE_LENGTH = LEVEL_LENGTHS[0]
# [0-9], never \d: Python and pydantic's \d also match full-width and other scripts' digits.
ADMIN_PREFIX_PATTERN = "^(?:" + "|".join(f"[0-9]{{{n}}}" for n in LEVEL_LENGTHS) + ")$"
_ADMIN_PREFIX = re.compile(ADMIN_PREFIX_PATTERN)
PROVINCE_PATTERN = re.compile(f"[0-9]{{{PROVINCE_LENGTH}}}")
LEVELS_TEXT = "2, 4, 6, 9 or 12 ASCII digits"


def is_admin_prefix(value: object) -> TypeGuard[str]:
    """An admin-code prefix of some level (any province)."""
    return isinstance(value, str) and _ADMIN_PREFIX.match(value) is not None


def in_province(value: object, province: str) -> TypeGuard[str]:
    """A prefix of some level inside ``province`` (the province itself included)."""
    return is_admin_prefix(value) and value.startswith(province)


def check_province(code: str) -> str:
    """``QZX_PROVINCE_CODE``: a province's two ASCII digits (fails loudly)."""
    if not PROVINCE_PATTERN.fullmatch(code):
        raise ValueError(
            f"QZX_PROVINCE_CODE must be a province's {PROVINCE_LENGTH} ASCII digits, not {code!r}"
        )
    return code
