"""A partner's batch: scope each event to the partner's prefix, then the camera pipeline.

Events outside the partner's ``admin_prefix`` are refused one by one (``out_of_scope: ...`` in the
per-item errors) rather than failing the whole batch: a province feed that strays over a border
still delivers the rest. Nothing from the exchange goes to the dead-letter topic, which is the
cameras'; the partner gets the reasons in the response instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_common.audit import AuditContext, record
from qzx_common.web.exchange import Partner, has_nul
from qzx_ingest.accidents import service as accidents
from qzx_ingest.db import SCHEMA
from qzx_ingest.violations.service import BatchResult, RawMessage, Rejection, apply_batch, validate


async def receive_violations(
    conn: AsyncConnection,
    *,
    partner: Partner,
    events: Sequence[Any],
    topic_prefix: str,
    audit_context: AuditContext,
    nonce: str | None = None,
) -> BatchResult:
    in_scope: list[int] = []
    refused: list[Rejection] = []
    for index, item in enumerate(events):
        if has_nul(item):  # refused here rather than failing the whole batch in the database
            refused.append(Rejection(index, "body: NUL characters (\\u0000) are not allowed"))
            continue
        event = validate(_encode(item))
        if not isinstance(event, str) and not partner.covers(event.location.admin_code):
            refused.append(
                Rejection(
                    index,
                    f"out_of_scope: location.admin_code {event.location.admin_code} is outside "
                    f"prefix {partner.admin_prefix}",
                )
            )
        else:
            in_scope.append(index)
    result = await apply_batch(
        conn,
        messages=[RawMessage(_encode(events[i])) for i in in_scope],
        source=f"exchange:{partner.key_id}",
        topic_prefix=topic_prefix,
    )
    result.rejected = sorted(
        [Rejection(in_scope[r.index], r.error) for r in result.rejected] + refused, key=lambda r: r.index
    )
    await record(
        conn,
        schema=SCHEMA,
        context=audit_context,
        action="exchange.violations.receive",
        target_type="exchange_batch",
        target_id=_batch_id(partner, nonce),
        admin_code=partner.admin_prefix,
        after={
            "events": len(events),
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
        },
    )
    return result


async def receive_accidents(
    conn: AsyncConnection,
    *,
    partner: Partner,
    reports: Sequence[Any],
    topic_prefix: str,
    audit_context: AuditContext,
    nonce: str | None = None,
) -> accidents.StoreResult:
    """A partner's AccidentReports: each validated, scoped to the partner's prefix, stored once."""
    batch = accidents.PreparedAccidents()
    for index, item in enumerate(reports):
        batch.add(index, _encode(item))
    for accident_id, (index, accepted) in list(batch.reports.items()):
        admin_code = accepted.report.location.admin_code
        if not partner.covers(admin_code):
            del batch.reports[accident_id]
            batch.rejects.append(
                (
                    index,
                    None,
                    f"out_of_scope: location.admin_code {admin_code} is outside prefix {partner.admin_prefix}",
                )
            )
    result = await accidents.store_reports(
        conn, batch=batch, reporter=f"exchange:{partner.key_id}", topic_prefix=topic_prefix
    )
    result.rejected.sort()
    await record(
        conn,
        schema=SCHEMA,
        context=audit_context,
        action="exchange.accidents.receive",
        target_type="exchange_batch",
        target_id=_batch_id(partner, nonce),
        admin_code=partner.admin_prefix,
        after={
            "accidents": len(reports),
            "accepted": len(result.new),
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
        },
    )
    return result


def _encode(item: Any) -> bytes:
    try:
        return orjson.dumps(item)
    except TypeError:  # integers beyond 64 bits: the standard library still writes them
        return json.dumps(item, ensure_ascii=False).encode()


def _batch_id(partner: Partner, nonce: str | None) -> str:
    return f"{partner.key_id}:{nonce}" if nonce else partner.key_id
