"""Reconciliation: does every record that entered a deployment end where it should?

``qzx reconcile`` (or ``python -m qzx_common.reconcile``) reads the camera topic, the dead-letter
topics, violations.accepted.v1, every service's tables (ingest's violations and dead letters,
alerts' sightings, alerts and change log, dispatch's alerts and tasks, the outboxes and the
change-log relay's cursor) and the consumer groups' committed offsets, through the deployment's
own QZX_DATABASE_URL, QZX_KAFKA_BOOTSTRAP and QZX_TOPIC_PREFIX. It only reads. The report lists
counts and every discrepancy (``report.KINDS``) with its first few ids; the command exits 1 when
there is any. On a system under load what is in flight shows as backlog (and as the records it
holds back): run it when the system is quiet, or again.
"""

from __future__ import annotations

import asyncpg

from qzx_common.reconcile import checks
from qzx_common.reconcile.report import KINDS, Discrepancy, Report
from qzx_common.settings import CommonSettings, to_plain_url

__all__ = ["KINDS", "Discrepancy", "Report", "reconcile"]


async def reconcile(settings: CommonSettings, *, timeout_s: float = 300.0) -> Report:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        ctx = checks.Context(conn, settings.kafka_bootstrap, settings.topic_prefix, timeout_s)
        # One snapshot of the database for every check; it starts at the first query.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await checks.camera_topic(ctx)
            await checks.accepted_topic(ctx)
            await checks.dead_letter_topics(ctx)
            await checks.stored_twice(ctx)
            await checks.priority_alerts(ctx)
            await checks.tasks_and_alerts(ctx)
            await checks.backlogs(ctx)
        return ctx.report
    finally:
        await conn.close()
