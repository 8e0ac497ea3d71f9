"""passages.accepted.v1 → the matcher (in memory, in ``prepare``, each partition's state made exact
first: ``state``) → the alerts it raised and the travel times it learned, in one transaction
(``handle``; then a due snapshot is written) → the runner commits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from qzx_alerts.alerts import service as alerts_service
from qzx_alerts.checkpoints import repository
from qzx_alerts.checkpoints.index import HotlistIndex
from qzx_alerts.checkpoints.service import PASSAGES, Checked, Matcher
from qzx_alerts.checkpoints.sightings import LastSightings
from qzx_alerts.checkpoints.state import PassageState
from qzx_alerts.history import repository as history
from qzx_alerts.scoring.rules import Rules
from qzx_alerts.settings import AlertsSettings
from qzx_common.contracts.passage_reader import read_accepted
from qzx_common.db import driver_connection
from qzx_common.kafka.logrelay import LogRelay
from qzx_common.kafka.runner import RecordsRejected
from qzx_common.reasons import describe_exception
from qzx_common.runtime import Runtime
from qzx_common.topics import ALERTS_PASSAGES_GROUP, PASSAGES_ACCEPTED

log = logging.getLogger(__name__)
SLICE = 200  # passages checked between yields to the event loop


async def start(rt: Runtime, settings: AlertsSettings, rules: Rules, published: LogRelay) -> Matcher:
    """Load the hotlists and travel times, follow the hotlist changes, and consume (a partition's
    last sightings are made exact by the first batch that carries it)."""
    index = HotlistIndex()
    async with rt.engine.connect() as conn:
        raw = await driver_connection(conn)
        await repository.load(raw, index)
        learned = await repository.learned_travel(raw)
    sightings = LastSightings(max_plates=settings.passage_plates_per_partition)
    matcher = Matcher(index=index, sightings=sightings, learned=learned, rules=rules)
    state = PassageState(
        matcher=matcher,
        bootstrap=settings.kafka_bootstrap,
        topic=settings.topic(PASSAGES_ACCEPTED),
        directory=Path(settings.passage_snapshot_dir) if settings.passage_snapshot_dir else None,
        interval_s=settings.passage_snapshot_interval_s,
    )
    stop = asyncio.Event()
    rt.run_beside(
        follow(rt.engine, index, interval_s=settings.hotlist_follow_s, stop=stop),
        name="hotlist-follow",
        stop=stop.set,
    )
    rt.run_beside(_finish_writing(state, stop), name="passage-snapshot-finish", stop=stop.set)

    async def prepare(records: Sequence[ConsumerRecord]) -> Checked:
        return await check(matcher, records, state)

    async def handle(batch: Checked) -> None:
        if batch.rejected:
            raise RecordsRejected(batch.rejected)
        if batch.proposals or batch.passages:
            async with rt.engine.begin() as conn:
                raw = await driver_connection(conn)
                await history.learn_passages(raw, batch.passages)
                await repository.store_linked(raw, batch.linked.values())
                await alerts_service.apply_proposals(conn, proposals=batch.proposals, rules=rules)
        if batch.snapshot is not None:
            state.write(batch.snapshot)
        PASSAGES.labels("checked").inc(batch.checked)
        if batch.proposals:
            published.wake()

    rt.consume(topics=[PASSAGES_ACCEPTED], group=ALERTS_PASSAGES_GROUP, handle=handle, prepare=prepare)
    log.info("checkpoint watch started", extra={"hotlist_entries": len(index), "travel_pairs": len(learned)})
    return matcher


async def check(
    matcher: Matcher, records: Sequence[ConsumerRecord], state: PassageState | None = None
) -> Checked:
    """Check ``records``; with ``state``, each partition made exact first, the records its state
    already holds skipped, and a due snapshot taken at the end."""
    out = Checked()
    if state is not None:
        firsts: dict[int, int] = {}
        for r in records:  # in offset order per partition
            firsts.setdefault(r.partition, r.offset)
        await state.open(firsts)
    now_ts = time.time()
    for n, r in enumerate(records):
        if state is not None:
            if state.skip(r.partition, r.offset):
                out.checked += 1
                continue
            state.checked(r.partition, r.offset)
        try:
            p = read_accepted(r.value or b"")
        except Exception as exc:  # ingest validated it: only a foreign producer gets here
            out.rejected[n] = f"unreadable accepted passage: {describe_exception(exc)}"
            continue
        matcher.check(r.partition, p, out, now_ts=now_ts)
        if n % SLICE == SLICE - 1:
            await asyncio.sleep(0)
    if state is not None:
        out.snapshot = state.take({r.partition for r in records})
    return out


async def _finish_writing(state: PassageState, stop: asyncio.Event) -> None:
    await stop.wait()
    await state.stop()


async def follow(engine: AsyncEngine, index: HotlistIndex, *, interval_s: float, stop: asyncio.Event) -> None:
    """Apply hotlist changes every ``interval_s`` (and prune the old ones now and then)."""
    looks = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
            return
        except TimeoutError:
            pass
        try:
            async with engine.begin() as conn:
                raw = await driver_connection(conn)
                await repository.follow(raw, index)
                if looks % 3600 == 0:
                    await repository.prune_changes(raw)
            looks += 1
        except Exception:
            log.warning("hotlist changes could not be read; trying again", exc_info=True)
