"""Which offset each partition's last sightings are exact at, how a partition's state is made
exact when its records start to come (after a start or a rebalance), and its snapshots.

A partition is opened by the first batch that carries it: the group resumes it from its committed
offset, so the state must be exact as of that record. It comes from what this process still holds,
or the partition's snapshot when that is newer, then the records between are replayed
(``rebuild.replay``); with neither, the clone window is replayed. A snapshot written after records
whose offsets the group did not commit (a crash between the two) is ahead of the group: the records
below its offset are then skipped, as they were checked and their findings stored before.

A snapshot is the partition encoded at a batch boundary (at the end of ``prepare``, so it holds
exactly the records up to the batch's offsets) and written, in a thread, only once that batch's
findings are committed (``handle``): a restart from it never skips a finding that was not stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from prometheus_client import Histogram

from qzx_alerts.checkpoints import snapshot
from qzx_alerts.checkpoints.rebuild import Span, replay
from qzx_alerts.checkpoints.service import Matcher
from qzx_alerts.checkpoints.sightings import Partition
from qzx_alerts.checkpoints.snapshot import Encoded, Snapshot, SnapshotUnusable

log = logging.getLogger(__name__)
SNAPSHOT_SECONDS = Histogram(
    "qzx_alerts_passage_snapshot_seconds",
    "Time to encode (on the event loop), write (in a thread) or load one partition's last-sightings snapshot",
    ["step"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30),
)


class PassageState:
    def __init__(
        self, *, matcher: Matcher, bootstrap: str, topic: str, directory: Path | None, interval_s: float
    ) -> None:
        self.matcher = matcher
        self.bootstrap = bootstrap
        self.topic = topic
        self.directory = directory
        self.interval_s = interval_s
        self.applied: dict[int, int] = {}  # partition → the next offset its state has not seen
        self.snapped: dict[int, float] = {}  # partition → when its last snapshot was taken (monotonic)
        self.taken_at = 0.0  # monotonic: a copy taken and not yet written (or given up)
        self.writing: asyncio.Task[None] | None = None

    async def open(self, firsts: dict[int, int]) -> None:
        """Make each partition's state exact as of ``firsts[partition]``, the first offset of it
        in the batch at hand (a partition already exact there is left as it is)."""
        spans: dict[int, Span] = {}
        started = time.monotonic()
        for partition, first in firsts.items():
            held = self.applied.get(partition)
            if held is not None and held >= first:
                continue  # the records below ``held`` come again: they are skipped
            start = held
            loaded = await self._load(partition) if self.directory is not None else None
            if loaded is not None and snapshot.age_s(loaded) > self.matcher.rules.clone.window_s:
                loaded = None  # all it holds is past the clone window: the window's replay is shorter
            if loaded is not None and (held is None or loaded.offset > held):
                self.matcher.sightings.replace(partition, loaded.state)
                self.snapped[partition] = time.monotonic()
                start = loaded.offset
            elif held is None:
                self.matcher.sightings.partitions.pop(partition, None)
            if start is not None and start >= first:
                self.applied[partition] = start
                continue
            spans[partition] = Span(start, first)
            self.applied[partition] = first
        if not spans:
            return
        n = await replay(
            bootstrap=self.bootstrap,
            topic=self.topic,
            matcher=self.matcher,
            spans=spans,
            window_s=self.matcher.rules.clone.window_s,
        )
        log.info(
            "passage state rebuilt",
            extra={
                "partitions": sorted(spans),
                "from_snapshot_or_memory": sorted(p for p, s in spans.items() if s.start is not None),
                "passages": n,
                "plates": sum(len(self.matcher.sightings.partitions.get(p, ())) for p in spans),
                "seconds": round(time.monotonic() - started, 1),
            },
        )

    def skip(self, partition: int, offset: int) -> bool:
        """Whether the record is one the state already holds (and whose findings are stored)."""
        return offset < self.applied.get(partition, 0)

    def checked(self, partition: int, offset: int) -> None:
        self.applied[partition] = offset + 1

    def take(self, partitions: set[int]) -> Encoded | None:
        """The one of ``partitions`` whose snapshot is the oldest, encoded, when it is due (one a
        batch: encoding holds the event loop for about 0.1 s a million plates)."""
        now = time.monotonic()
        if self.directory is None or now - self.taken_at < self.interval_s:
            return None
        if self.writing is not None and not self.writing.done():
            return None
        due = [p for p in partitions if now - self.snapped.get(p, -self.interval_s) >= self.interval_s]
        if not due:
            return None
        partition = min(due, key=lambda p: self.snapped.get(p, -self.interval_s))
        part = self.matcher.sightings.partitions.get(partition) or Partition()
        self.taken_at = now
        self.snapped[partition] = now
        started = time.monotonic()
        encoded = snapshot.encode(Snapshot(partition, self.applied[partition], time.time(), part))
        SNAPSHOT_SECONDS.labels("encode").observe(time.monotonic() - started)
        return encoded

    def write(self, taken: Encoded) -> None:
        """Write ``taken`` in a thread, its batch's findings now committed."""
        self.writing = asyncio.create_task(self._write(taken), name="passage-snapshot")

    async def _write(self, taken: Encoded) -> None:
        assert self.directory is not None
        path = snapshot.path_for(self.directory, self.topic, taken.partition)
        started = time.monotonic()
        try:
            size = await asyncio.to_thread(snapshot.write, path, taken)
        except Exception:  # the next one is due after the interval; a restart replays more meanwhile
            log.warning("passage state snapshot not written", extra={"path": str(path)}, exc_info=True)
            return
        finally:
            self.taken_at = 0.0
        took = time.monotonic() - started
        SNAPSHOT_SECONDS.labels("write").observe(took)
        log.debug("passage state snapshot written", extra={"path": str(path), "bytes": size, "seconds": took})

    async def _load(self, partition: int) -> Snapshot | None:
        assert self.directory is not None
        path = snapshot.path_for(self.directory, self.topic, partition)
        started = time.monotonic()
        try:
            loaded = await asyncio.to_thread(snapshot.read, path, partition=partition)
        except (SnapshotUnusable, OSError) as exc:
            log.warning(
                "passage state snapshot unusable; replaying the partition's clone window",
                extra={"path": str(path), "error": str(exc)},
            )
            return None
        if loaded is None:
            log.info(
                "no passage state snapshot; replaying the partition's clone window", extra={"path": str(path)}
            )
            return None
        SNAPSHOT_SECONDS.labels("load").observe(time.monotonic() - started)
        log.info(
            "passage state snapshot loaded",
            extra={
                "path": str(path),
                "offset": loaded.offset,
                "plates": len(loaded.state),
                "age_s": round(snapshot.age_s(loaded), 1),
                "seconds": round(time.monotonic() - started, 2),
            },
        )
        return loaded

    async def stop(self) -> None:
        """Let a snapshot being written finish (a cut one is only a temporary file)."""
        if self.writing is not None:
            await asyncio.wait([self.writing], timeout=30)
