"""The escalation webhook (the hook for an SMS or radio gateway): each queued escalation is POSTed
as JSON, signed ``X-Qzx-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` with
``X-Qzx-Timestamp`` (unix seconds) and ``X-Qzx-Event-Id`` (the escalation id: receivers drop
repeats). A 2xx delivers it; a 4xx other than 408/425/429 is permanent; anything else is retried
with doubling back-off until the last attempt, after which the delivery is dead (the dead letter,
kept with its last error)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import Counter
from datetime import datetime, timedelta

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from qzx_common.db import transaction
from qzx_dispatch.clock import Clock
from qzx_dispatch.escalations.models import WebhookDelivery
from qzx_dispatch.settings import DispatchSettings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Qzx-Signature"
TIMESTAMP_HEADER = "X-Qzx-Timestamp"
EVENT_HEADER = "X-Qzx-Event-Id"
RETRIED_4XX = frozenset({408, 425, 429})
MAX_BACKOFF_S = 600.0
PER_PASS = 50


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, *, event_id: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        EVENT_HEADER: event_id,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


class WebhookDeliverer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        settings: DispatchSettings,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self.settings.escalation_webhook_timeout_s) as client:
            while not self.stopping.is_set():
                try:
                    await self.deliver_due(client)
                except Exception:
                    log.exception("escalation webhook pass failed")
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=self.settings.deadline_tick_s)
                except TimeoutError:
                    pass

    async def deliver_due(self, client: httpx.AsyncClient) -> Counter[str]:
        """Send what is due now, one delivery per transaction (its row locked, SKIP LOCKED, so that
        replicas share the queue); how many were delivered, retried and dead."""
        done: Counter[str] = Counter()
        url = self.settings.escalation_webhook_url
        if not url:
            return done
        for _ in range(PER_PASS):
            now = self.clock.now()
            async with transaction(self.sessions) as s:
                row = await s.scalar(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.state == "pending", WebhookDelivery.next_try_at <= now)
                    .order_by(WebhookDelivery.next_try_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if row is None:
                    break
                done[await self._attempt(client, url, row, now)] += 1
        return done

    async def _attempt(self, client: httpx.AsyncClient, url: str, row: WebhookDelivery, now: datetime) -> str:
        body = orjson.dumps(row.body)
        headers = signed_headers(
            self.settings.escalation_webhook_secret, event_id=row.event_id, body=body, now=now
        )
        row.attempts += 1
        try:
            response = await client.post(url, content=body, headers=headers)
            status, error = response.status_code, f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"[:500]
        if status is not None and 200 <= status < 300:
            row.state, row.done_at, row.last_error = "delivered", now, None
            return "delivered"
        row.last_error = error
        permanent = status is not None and 400 <= status < 500 and status not in RETRIED_4XX
        if permanent or row.attempts >= self.settings.escalation_webhook_attempts:
            row.state, row.done_at = "dead", now
            log.error(
                "escalation webhook gave up on %s after %d attempt(s): %s", row.event_id, row.attempts, error
            )
            return "dead"
        backoff = min(MAX_BACKOFF_S, self.settings.escalation_webhook_backoff_s * 2 ** (row.attempts - 1))
        row.next_try_at = now + timedelta(seconds=backoff)
        return "retried"
