"""accidents.accepted.v1 → dispatch.accident_facts: the accident layer of the shift planner's
demand (docs/decisions/0016: dispatch keeps its own copy rather than ask alerts)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.contracts.accidents import AccidentReport, read_accident
from qzx_common.contracts.events import describe_error
from qzx_common.kafka.runner import RecordsRejected
from qzx_dispatch.shifts.models import AccidentFact


def read_reports(values: Sequence[bytes | None]) -> list[AccidentReport]:
    """The batch's reports; ``RecordsRejected`` names the values that are not one."""
    reports, rejected = [], {}
    for i, value in enumerate(values):
        try:
            reports.append(read_accident(value or b""))
        except ValidationError as exc:
            rejected[i] = f"not an AccidentReport: {describe_error(exc)}"
    if rejected:
        raise RecordsRejected(rejected)
    return reports


async def store(session: AsyncSession, reports: Sequence[AccidentReport]) -> None:
    """Each accident once: a redelivery changes nothing."""
    rows = {
        r.accident_id: {
            "accident_id": r.accident_id,
            "occurred_at": r.occurred_at,
            "admin_code": r.location.admin_code,
            "severity": r.severity.value,
            "road_feature": r.road_feature.value,
            "rural": r.rural,
        }
        for r in reports
    }
    if rows:
        await session.execute(
            insert(AccidentFact).on_conflict_do_nothing(index_elements=["accident_id"]), list(rows.values())
        )
