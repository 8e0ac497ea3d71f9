"""The canonical spellings of the contract's fields, as pydantic-core constraints: what the
fast readers in ingest (violations and passages) accept without building the model. Each is a
subset of what the contract's model accepts (``contracts.events``), never more."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, StringConstraints, with_config
from typing_extensions import TypedDict

from qzx_common.contracts.events import PLATE_RE
from qzx_common.contracts.geo import LAT_MAX, LAT_MIN, LON_MAX, LON_MIN

FORBID = ConfigDict(extra="forbid")
# ASCII subsets of the model's patterns (its \w and \d also match other scripts' letters/digits).
CANONICAL_ID = r"^[A-Za-z0-9_.:\-]+$"
# Only what the model's plate validator would leave unchanged (upper-case, no separators).
CANONICAL_PLATE = PLATE_RE.pattern
# RFC 3339 with seconds and an offset; years 1000-2999, offsets under 15 h (the model's range is
# then checked on the parsed time).
CANONICAL_TIMESTAMP = r"^[12][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])$"


def one_of(values: type[Any]) -> Any:
    return Literal[tuple(v.value for v in values)]


@with_config(FORBID)
class CanonicalLocation(TypedDict):
    lat: Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX)]
    lon: Annotated[float, Field(ge=LON_MIN, le=LON_MAX)]
    admin_code: Annotated[str, StringConstraints(pattern=r"^37[0-9]{4}$")]
    road: NotRequired[Annotated[str, StringConstraints(max_length=64)] | None]
    km: NotRequired[Annotated[float, Field(ge=0, le=10000)] | None]
