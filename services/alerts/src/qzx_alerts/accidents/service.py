"""accidents.accepted.v1 → alerts: an injury or fatal accident is one P1 alert of kind ``accident``
(named after the accident, so a redelivery updates the same alert and never opens another); a
property-only accident is not an alert. Every accident's facts are kept (``accident_facts``) for
the reports and black-spot analysis, in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.accidents.factors import KIND, responds, score_accident
from qzx_alerts.accidents.repository import store_facts
from qzx_alerts.alerts.service import apply_proposals
from qzx_alerts.scoring.domain import Proposal
from qzx_alerts.scoring.rules import Rules
from qzx_common.contracts.accidents import AccidentReport, read_accident
from qzx_common.contracts.events import describe_error
from qzx_common.kafka.runner import RecordsRejected

# An accident's alert absorbs only its own report: the window just has to cover a redelivery.
WINDOW_S = 7 * 24 * 3600


def read_reports(values: Sequence[bytes | None]) -> list[AccidentReport]:
    """The reports of a batch; ``RecordsRejected`` names the values that are not one (ingest
    checked them: such a value comes from elsewhere)."""
    reports, rejected = [], {}
    for i, value in enumerate(values):
        try:
            reports.append(read_accident(value or b""))
        except ValidationError as exc:
            rejected[i] = describe_error(exc)
    if rejected:
        raise RecordsRejected(rejected)
    return reports


def proposal(report: AccidentReport, rules: Rules) -> Proposal | None:
    if not responds(report):
        return None
    scored = score_accident(report, rules)
    plates = sorted({v.plate for v in report.vehicles if v.plate})
    where = report.location
    return Proposal(
        kind=KIND,
        dedup_key=f"{KIND}:{report.accident_id}",
        seed=report.accident_id,
        score=scored.score,
        priority=scored.priority,
        factors=scored.factors,
        violations=[],
        plate=plates[0] if plates else None,
        plates=plates,
        admin_code=where.admin_code,
        lat=where.lat,
        lon=where.lon,
        road=where.road,
        km=where.km,
        device_id=None,
        first_seen=report.occurred_at,
        last_seen=report.occurred_at,
        evidence=[],
        event_ids=[report.accident_id],
        window_s=WINDOW_S,
    )


async def apply_accidents(conn: AsyncConnection, *, reports: Sequence[AccidentReport], rules: Rules) -> int:
    """Keep the batch's facts and fold its accidents into alerts (published on the change log); how
    many alerts were written."""
    await store_facts(conn, reports)
    proposals = [p for r in reports if (p := proposal(r, rules)) is not None]
    return await apply_proposals(conn, proposals=proposals, rules=rules)
