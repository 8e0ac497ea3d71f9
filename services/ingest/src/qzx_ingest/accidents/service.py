"""Accidents: validate, store once (idempotent on ``accident_id``), forward the new ones to
``accidents.accepted.v1`` through the outbox, dead-letter what the topic delivers that is bad.

Every path (the 122 call centre's and dispatchers' POST, the exchange, ``accidents.reported.v1``)
goes through ``store_reports`` in the caller's transaction, so rows, dead letters and outbox
messages commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from aiokafka import ConsumerRecord
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_common.audit import AuditContext, record
from qzx_common.contracts.accidents import AccidentReport, Severity, read_accident
from qzx_common.contracts.events import capture_time_problem, describe_error
from qzx_common.kafka.deadletter import DeadLetter
from qzx_common.kafka.dlq import store_and_stage
from qzx_common.kafka.outbox import OutboxMessage, Staged, stage
from qzx_common.reasons import describe_exception
from qzx_common.topics import ACCIDENTS_ACCEPTED
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qzx_ingest.accidents import repository
from qzx_ingest.accidents.schemas import QuickClose
from qzx_ingest.db import SCHEMA

# National (G) and provincial (S) roads: a property-only accident there blocks traffic that matters,
# so it goes to quick handling (事故快处) and the time to clear the road is measured.
MAIN_ROAD_PREFIXES = ("G", "S")


def goes_to_quick_handling(report: AccidentReport) -> bool:
    road = (report.location.road or "").upper()
    return report.severity == Severity.property_only and road.startswith(MAIN_ROAD_PREFIXES)


OUTCOMES = Counter("qzx_ingest_accidents_total", "Accident reports by outcome", ["source", "outcome"])


@dataclass(frozen=True, slots=True)
class Accepted:
    report: AccidentReport
    payload: bytes  # the normalised JSON stored and forwarded


def validate(value: bytes | None) -> Accepted | str:
    """The report with its normalised JSON, or the reason it is refused (naming the field)."""
    if value is None:
        return "body: empty message (null value)"
    if b"\\u0000" in value:  # PostgreSQL text and jsonb cannot hold U+0000
        return "body: contains a NUL character (U+0000)"
    try:
        report = read_accident(value)
    except ValidationError as exc:
        return describe_error(exc)
    except Exception as exc:  # nothing in a message may stop the pipeline: it is a reason too
        return f"body: {describe_exception(exc)}"
    return Accepted(report, report.normalised())


@dataclass
class PreparedAccidents:
    """Valid reports (the first of each ``accident_id``) with their batch positions, and rejects."""

    reports: dict[str, tuple[int, Accepted]] = field(default_factory=dict)
    rejects: list[tuple[int, ConsumerRecord | None, str]] = field(default_factory=list)
    duplicates_in_batch: int = 0

    def add(self, index: int, value: bytes | None, record: ConsumerRecord | None = None) -> None:
        outcome = validate(value)
        if isinstance(outcome, str):
            self.rejects.append((index, record, outcome))
        elif outcome.report.accident_id in self.reports:
            self.duplicates_in_batch += 1
        else:
            self.reports[outcome.report.accident_id] = (index, outcome)


@dataclass
class StoreResult:
    new: list[Accepted] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    staged: Staged = field(default_factory=Staged)  # for OutboxRelay.publish_committed after commit


async def store_reports(
    conn: AsyncConnection,
    *,
    batch: PreparedAccidents,
    reporter: str,
    topic_prefix: str,
    consumer: str | None = None,
) -> StoreResult:
    """Store the new reports once and queue each for ``accidents.accepted.v1`` (key: accident id);
    the rejects are dead-lettered as ``consumer`` when it is given, else only reported."""
    accepted = [a for _, a in batch.reports.values()]
    fresh = await repository.insert_new(conn, [(a.report, a.payload) for a in accepted], reporter=reporter)
    new = [a for a in accepted if a.report.accident_id in fresh]
    await repository.open_quick_cases(conn, [a.report for a in new if goes_to_quick_handling(a.report)])
    forward_to = topic_prefix + ACCIDENTS_ACCEPTED
    staged = await stage(
        conn,
        schema=SCHEMA,
        messages=[OutboxMessage(forward_to, a.payload, a.report.accident_id.encode()) for a in new],
    )
    result = StoreResult(
        new=new,
        duplicates=batch.duplicates_in_batch + len(accepted) - len(new),
        rejected=[(index, reason) for index, _, reason in batch.rejects],
        staged=staged,
    )
    records = [(r, reason) for _, r, reason in batch.rejects if r is not None]
    if consumer is not None and records:
        letters = [
            DeadLetter.of_record(r, reason, consumer=consumer, topic_prefix=topic_prefix)
            for r, reason in records
        ]
        dead = await store_and_stage(conn, schema=SCHEMA, letters=letters, topic_prefix=topic_prefix)
        staged.add(dead.ids, dead.messages)
    source = reporter.split(":", 1)[0]
    OUTCOMES.labels(source, "accepted").inc(len(new))
    OUTCOMES.labels(source, "duplicate").inc(result.duplicates)
    OUTCOMES.labels(source, "rejected").inc(len(result.rejected))
    return result


def prepare(values: Sequence[bytes | None]) -> PreparedAccidents:
    batch = PreparedAccidents()
    for index, value in enumerate(values):
        batch.add(index, value)
    return batch


@dataclass(frozen=True, slots=True)
class Reported:
    accident_id: str
    duplicate: bool
    staged: Staged


async def report(
    conn: AsyncConnection,
    *,
    principal: Principal,
    body: bytes,
    topic_prefix: str,
    audit_context: AuditContext,
) -> Reported:
    """One report from a person (the 122 call centre, a dispatcher, an officer): refused with the
    field's reason (422) or outside their jurisdiction (403); stored once and audited as theirs."""
    outcome = validate(body)
    if isinstance(outcome, str):
        raise InvalidRequest(f"事故报告无效 / invalid accident report: {outcome}", code="invalid_accident")
    admin_code = outcome.report.location.admin_code
    if not principal.sees(admin_code):
        raise Forbidden(
            f"事故地点 {admin_code} 不在辖区 {principal.jur} 内 / {admin_code} is outside your jurisdiction",
            code="out_of_jurisdiction",
        )
    batch = PreparedAccidents(reports={outcome.report.accident_id: (0, outcome)})
    result = await store_reports(
        conn, batch=batch, reporter=f"user:{principal.sub}", topic_prefix=topic_prefix
    )
    duplicate = not result.new
    await record(
        conn,
        schema=SCHEMA,
        context=audit_context,
        action="accidents.report",
        target_type="accident",
        target_id=outcome.report.accident_id,
        admin_code=admin_code,
        after={"duplicate": True} if duplicate else orjson.loads(outcome.payload),
    )
    return Reported(outcome.report.accident_id, duplicate, result.staged)


async def close_quick_case(
    conn: AsyncConnection,
    *,
    principal: Principal,
    accident_id: str,
    close: QuickClose,
    audit_context: AuditContext,
) -> dict[str, object]:
    """Close a quick-handling case once, with the outcome the parties agreed (or the unit settled)
    and when the road was cleared; audited as the caller's."""
    case = await repository.quick_case_for_update(conn, accident_id)
    if case is None or not principal.sees(case["admin_code"]):
        raise NotFound(
            f"没有快处案件 {accident_id!r} / no quick-handling case for that accident",
            code="quick_case_not_found",
        )
    if case["status"] != "open":
        raise Conflict("快处案件已结案 / the quick-handling case is closed already", code="quick_case_closed")
    cleared = close.road_cleared_at
    if problem := capture_time_problem(cleared, "road_cleared_at"):
        raise InvalidRequest(f"清障时间无效 / {problem}", code="invalid_quick_close")
    if cleared < case["occurred_at"]:
        raise InvalidRequest(
            "清障时间早于事故时间 / road_cleared_at: before the accident", code="invalid_quick_close"
        )
    values = {
        "outcome": close.outcome.value,
        "road_cleared_at": cleared,
        "clear_s": int((cleared - case["occurred_at"]).total_seconds()),
        "closed_by": principal.sub,
        "note": close.note,
    }
    await repository.close_quick_case(conn, accident_id=accident_id, values=values)
    after: dict[str, object] = {"status": "closed", **values, "road_cleared_at": cleared.isoformat()}
    await record(
        conn,
        schema=SCHEMA,
        context=audit_context,
        action="accidents.quick_handling.close",
        target_type="accident",
        target_id=accident_id,
        admin_code=case["admin_code"],
        before={"status": case["status"]},
        after=after,
    )
    return after
