from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.accidents.models import AccidentFactRow
from qzx_common.contracts.accidents import AccidentReport


def fact(report: AccidentReport) -> dict[str, object]:
    where = report.location
    return {
        "accident_id": report.accident_id,
        "occurred_at": report.occurred_at,
        "admin_code": where.admin_code,
        "lat": where.lat,
        "lon": where.lon,
        "road": where.road,
        "road_feature": report.road_feature.value,
        "severity": report.severity.value,
        "injured": report.injured,
        "killed": report.killed,
        "ebike_involved": report.ebike_involved,
        "rural": report.rural,
    }


async def store_facts(conn: AsyncConnection, reports: Sequence[AccidentReport]) -> None:
    """Each accident once (ingest forwards an accident once; a redelivery changes nothing)."""
    unique = {r.accident_id: r for r in reports}
    if not unique:
        return
    await conn.execute(
        insert(AccidentFactRow).on_conflict_do_nothing(index_elements=["accident_id"]),
        [fact(r) for r in unique.values()],
    )
