from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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
