from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from qzx_alerts.deps import DivisionsDep
from qzx_alerts.hazards.schemas import Division, DivisionList
from qzx_common.jurisdiction import ADMIN_PREFIX_PATTERN
from qzx_common.web.auth import Principal
from qzx_common.web.errors import NotFound
from qzx_common.web.openapi import AUTHENTICATED, error_responses
from qzx_common.web.permissions import Action, require

router = APIRouter(prefix="/v1/divisions", tags=["divisions"])


@router.get("/{code}", response_model=DivisionList, responses=AUTHENTICATED | error_responses(404))
async def division_children(
    code: Annotated[str, Path(pattern=ADMIN_PREFIX_PATTERN)],
    principal: Annotated[Principal, require(Action.org_read)],
    divisions: DivisionsDep,
) -> DivisionList:
    """行政区划 A division's official name and the divisions directly under it (a county's townships,
    a township's villages): the owners a hazard can be assigned to. Public reference data, so not
    limited to the caller's jurisdiction."""
    found = divisions.get(code)
    if found is None:
        raise NotFound(f"no division with code {code!r}", code="division_not_found")

    def out(d: object) -> Division:
        return Division.model_validate(d, from_attributes=True)

    return DivisionList(parent=out(found), items=[out(d) for d in divisions.children(code)])
