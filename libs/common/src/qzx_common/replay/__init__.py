"""Replaying dead letters after a fix: each selected letter goes back, key and raw value byte for
byte, onto the topic it came from, and its row records the replay.

``qzx dlq replay`` (or ``python -m qzx_common.replay``, which a deployment has without the dev
tools) reads the services' ``dead_letters`` tables (``kafka.deadletter``) through the deployment's
QZX_DATABASE_URL, QZX_KAFKA_BOOTSTRAP and QZX_TOPIC_PREFIX. A letter is selected by its service,
source topic, receipt time, reason (a case-insensitive POSIX regular expression) or id; a letter
already replayed is skipped unless ``force``. Dead letters keep no headers, so the record carries
only ``qzx-replay-of`` (``<schema>/<id>``). A letter counts as replayed once the broker has
acknowledged it (``acks=all``) and its row is marked after that: a crash between the two can send
it once more, which the consumers' idempotency absorbs.

Letters from an exchange request (``exchange:<key id>``) have no topic to go back to and are
counted as not replayable; replay them by having the partner send the request again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from qzx_common.settings import CommonSettings, to_plain_url
from qzx_common.topics import HEADER_REPLAY_OF

# Every service schema with a dead_letters table (one schema per service, docs/design.md).
SCHEMAS = ("ingest", "alerts", "dispatch")
BATCH = 500


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters to replay; every given criterion must hold."""

    schemas: tuple[str, ...] = SCHEMAS
    sources: tuple[str, ...] = ()  # unprefixed source topics; empty: every topic
    since: datetime | None = None  # received_at >= since
    until: datetime | None = None  # received_at < until
    reason: str | None = None  # regular expression on the reason (``~*``)
    ids: tuple[int, ...] = ()
    force: bool = False  # replay letters replayed before too

    def __post_init__(self) -> None:
        unknown = set(self.schemas) - set(SCHEMAS)
        if unknown:
            raise ValueError(f"unknown service schema(s): {', '.join(sorted(unknown))}")
        if self.ids and len(self.schemas) != 1:
            raise ValueError("ids are per service: name exactly one service with them")


@dataclass
class ReplayReport:
    replayed: Counter[str] = field(default_factory=Counter)  # per "<schema> <source>"
    already_replayed: Counter[str] = field(default_factory=Counter)
    not_replayable: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # the first few send errors

    def render(self) -> str:
        lines = []
        for name, counts in (
            ("replayed", self.replayed),
            ("already replayed (skipped; --force replays them)", self.already_replayed),
            ("not replayable (no source topic)", self.not_replayable),
            ("failed to send", self.failed),
        ):
            lines.append(f"{name}: {sum(counts.values())}")
            lines += [f"  {where}: {n}" for where, n in sorted(counts.items())]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def _where(selection: Selection) -> tuple[str, list[object]]:
    clauses, args = [], []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if selection.sources:
        clauses.append(f"source = ANY({arg(list(selection.sources))}::text[])")
    if selection.since is not None:
        clauses.append(f"received_at >= {arg(selection.since)}")
    if selection.until is not None:
        clauses.append(f"received_at < {arg(selection.until)}")
    if selection.reason is not None:
        clauses.append(f"error ~* {arg(selection.reason)}")
    if selection.ids:
        clauses.append(f"id = ANY({arg(list(selection.ids))}::bigint[])")
    return " AND ".join(clauses) or "true", args


async def replay(settings: CommonSettings, selection: Selection, *, dry_run: bool = False) -> ReplayReport:
    """Replay what ``selection`` names; ``dry_run`` counts without sending or marking."""
    report = ReplayReport()
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    try:
        if not dry_run:
            await producer.start()
        for schema in selection.schemas:
            await _replay_schema(conn, producer, settings, schema, selection, report, dry_run)
    finally:
        if not dry_run:
            await producer.stop()
        await conn.close()
    return report


async def _replay_schema(
    conn: asyncpg.Connection,
    producer: AIOKafkaProducer,
    settings: CommonSettings,
    schema: str,
    selection: Selection,
    report: ReplayReport,
    dry_run: bool,
) -> None:
    where, args = _where(selection)
    after = 0
    while True:
        rows = await conn.fetch(
            f"""SELECT id, source, key, raw, replayed_at IS NOT NULL AS replayed
                FROM "{schema}".dead_letters WHERE {where} AND id > ${len(args) + 1}
                ORDER BY id LIMIT {BATCH}""",
            *args,
            after,
        )
        if not rows:
            return
        after = rows[-1]["id"]
        sent = []
        for row in rows:
            where_ = f"{schema} {row['source']}"
            if row["source"].startswith("exchange:"):
                report.not_replayable[where_] += 1
            elif row["replayed"] and not selection.force:
                report.already_replayed[where_] += 1
            elif dry_run:
                report.replayed[where_] += 1
            else:
                future = await producer.send(
                    settings.topic(row["source"]),
                    row["raw"],
                    key=row["key"],
                    headers=[(HEADER_REPLAY_OF, f"{schema}/{row['id']}".encode())],
                )
                sent.append((row, where_, future))
        acknowledged = []
        for row, where_, future in sent:
            try:
                await future
            except Exception as exc:  # one refused record (too large, say) stops none of the others
                report.failed[where_] += 1
                if len(report.errors) < 5:
                    report.errors.append(f"{schema}/{row['id']}: {type(exc).__name__}: {exc}")
            else:
                report.replayed[where_] += 1
                acknowledged.append(row["id"])
        if acknowledged:
            await conn.execute(
                f"""UPDATE "{schema}".dead_letters SET replayed_at = now(), replays = replays + 1
                    WHERE id = ANY($1::bigint[])""",
                acknowledged,
            )
