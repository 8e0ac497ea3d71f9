"""Alert changes: fold findings into alerts, dismiss, and publish every new state (outbox → alerts.v1,
change log → SSE) in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from qzx_alerts.alerts import repository
from qzx_alerts.alerts.merge import OpenAlert, merge
from qzx_alerts.alerts.schemas import alert_json, alert_payload, created_state, is_covert_hit, scored_payload
from qzx_alerts.db import SCHEMA
from qzx_alerts.scoring.domain import Proposal
from qzx_alerts.scoring.rules import Rules
from qzx_common import audit
from qzx_common.audit import AuditContext
from qzx_common.db import driver_connection
from qzx_common.web.auth import Principal
from qzx_common.web.errors import Conflict, NotFound

# Open alerts read per finding whose kind limits an alert's span: those it would fit in lie within
# twice that span, where few group alerts of one segment do; past them, a finding opens an alert
# beside one it could have joined.
SPANNED_CANDIDATES = 4


def lookup_window(p: Proposal, window: timedelta) -> repository.Window:
    """The stored alerts ``p`` could join (``merge._target``): the latest whose span meets its
    dedup window, or, for a kind whose alerts cover at most ``max_span_s``, the latest it fits in."""
    start, end = p.first_seen - window, p.last_seen + window
    if p.max_span_s is None:
        return (p.dedup_key, start, end, repository.ANY_START, repository.ANY_END, 1)
    limit = timedelta(seconds=p.max_span_s)
    return (p.dedup_key, start, end, p.last_seen - limit, p.first_seen + limit, SPANNED_CANDIDATES)


async def publish(conn: AsyncConnection, *, rows: Sequence[Any]) -> None:
    """Announce new alert states read from their rows."""
    if rows:
        await publish_payloads(conn, changes=((r["id"], r["admin_code"], alert_json(r)) for r in rows))


async def publish_payloads(conn: AsyncConnection, *, changes: Iterable[tuple[str, str, bytes]]) -> None:
    """Announce new alert states (alert id, admin code, Alert JSON) on the change log, which the
    SSE stream reads and the change relay publishes to alerts.v1 (key: alert id)."""
    await repository.append_changes(await driver_connection(conn), changes)


async def apply_proposals(conn: AsyncConnection, *, proposals: Sequence[Proposal], rules: Rules) -> int:
    """Deduplicate findings into open alerts (per key, under an advisory lock), write, publish;
    returns how many alerts were written."""
    if not proposals:
        return 0
    raw = await driver_connection(conn)
    now = await repository.lock_keys(raw, list({p.dedup_key for p in proposals}))
    spans = {s: timedelta(seconds=s) for s in {p.window_s for p in proposals}}
    windows = {lookup_window(p, spans[p.window_s]) for p in proposals if p.may_join_stored}
    existing = [OpenAlert.from_row(r) for r in await repository.open_alerts(raw, list(windows))]
    touched = sorted(merge(existing, proposals, max_event_ids=rules.dedup.max_event_ids), key=lambda a: a.id)
    states = {s["id"]: s for s in await repository.write_alerts(raw, touched, rules)}
    if touched:
        # Encoded as the COPY streams them: a batch's payloads are not all held at once.
        await publish_payloads(
            conn,
            changes=(
                (
                    a.id,
                    a.admin_code,
                    orjson.dumps(scored_payload(a, states.get(a.id) or created_state(a, now), rules)),
                )
                for a in touched
            ),
        )
    return len(touched)


async def visible_alert(
    conn: AsyncConnection, *, principal: Principal, alert_id: str, for_update: bool = False
) -> asyncpg.Record:
    row = await repository.get(await driver_connection(conn), alert_id, for_update=for_update)
    if (
        row is None
        or not principal.sees(row["admin_code"])
        or (not principal.is_commander and is_covert_hit(row["kind"], row["factors"]))
    ):
        # Out-of-jurisdiction alerts look like absent ones: no existence oracle.
        raise NotFound(f"no alert with id {alert_id!r}", code="alert_not_found")
    return row


async def alert_detail(conn: AsyncConnection, *, principal: Principal, alert_id: str) -> dict[str, Any]:
    row = await visible_alert(conn, principal=principal, alert_id=alert_id)
    events = await repository.linked_events(await driver_connection(conn), row["event_ids"])
    return alert_payload(row) | {"events": events}


async def dismiss(
    conn: AsyncConnection,
    *,
    principal: Principal,
    alert_id: str,
    reason: str,
    audit_context: AuditContext,
) -> dict[str, Any]:
    before = await visible_alert(conn, principal=principal, alert_id=alert_id, for_update=True)
    if before["status"] in repository.TERMINAL:
        raise Conflict(f"alert {alert_id} is already {before['status']}", code="alert_closed")
    row = await repository.set_dismissed(await driver_connection(conn), alert_id, reason=reason)
    await audit.record(
        conn,
        schema=SCHEMA,
        context=audit_context,
        action="alert.dismiss",
        target_type="alert",
        target_id=alert_id,
        before={"status": before["status"]},
        after={"status": "dismissed", "reason": reason},
        admin_code=row["admin_code"],
    )
    await publish(conn, rows=[row])
    return alert_payload(row)
