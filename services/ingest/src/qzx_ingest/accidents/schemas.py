from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints

from qzx_common.contracts.accidents import AccidentReport


class AccidentList(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class ReportResult(BaseModel):
    accident_id: str
    duplicate: bool


# The POST body as documented (the router reads the raw bytes, so the contract's own messages apply).
REPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": AccidentReport.model_json_schema()}},
    }
}


class QuickOutcome(StrEnum):
    agreed = "agreed"  # the parties agreed on liability (协商一致)
    settled_by_unit = "settled_by_unit"  # the unit determined liability on the spot
    referred = "referred"  # no agreement: referred to ordinary handling


class QuickClose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: QuickOutcome
    road_cleared_at: AwareDatetime
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class QuickSummary(BaseModel):
    open: int
    closed: int
    agreed: int
    clear_s_median: float | None
    clear_s_p90: float | None
    clear_s_max: int | None
