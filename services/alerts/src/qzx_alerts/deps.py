"""The one dependencies module: a connection per request, committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from qzx_alerts.alerts.stream import ChangeTail
from qzx_alerts.blackspots.jobs import BlackspotJobs
from qzx_alerts.consumer import Scoring
from qzx_alerts.db import SCHEMA
from qzx_alerts.divisions.reference import Divisions
from qzx_alerts.scoring.rules import Rules
from qzx_alerts.settings import AlertsSettings
from qzx_alerts.state import AlertsState
from qzx_common.audit import AuditContext
from qzx_common.runtime import Runtime
from qzx_common.web.auth import audit_context, request_audit
from qzx_common.web.capacity import Capacity
from qzx_common.web.exchange import Partner, exchange_partner
from qzx_common.web.service import service_state


def state(request: Request) -> AlertsState:
    return service_state(request, AlertsState)


def runtime(request: Request) -> Runtime:
    return state(request).runtime


def settings(request: Request) -> AlertsSettings:
    return state(request).settings


def scoring(request: Request) -> Scoring:
    return state(request).scoring


def divisions(request: Request) -> Divisions:
    return state(request).divisions


def blackspot_jobs(request: Request) -> BlackspotJobs:
    return state(request).blackspot_jobs


def rules(request: Request) -> Rules:
    return state(request).rules


def change_tail(request: Request) -> ChangeTail:
    return state(request).change_tail


def sse_streams(request: Request) -> Capacity:
    return state(request).sse_streams


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as s, s.begin():
        yield s
    _published(request)


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with runtime(request).engine.begin() as conn:
        yield conn
    _published(request)


def _published(request: Request) -> None:
    """What a committed write request changed goes out on alerts.v1 now, not at the next poll."""
    if request.method not in ("GET", "HEAD"):
        state(request).change_relay.wake()


# scope="function": the commit happens before the response is sent, so a failed commit is an error
# answer and work handed to BackgroundTasks (a black-spot run reading its row) sees what was committed.
Session = Annotated[AsyncSession, Depends(session, scope="function")]
Connection = Annotated[AsyncConnection, Depends(connection, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
SettingsDep = Annotated[AlertsSettings, Depends(settings)]
ScoringDep = Annotated[Scoring, Depends(scoring)]
RulesDep = Annotated[Rules, Depends(rules)]
DivisionsDep = Annotated[Divisions, Depends(divisions)]
BlackspotJobsDep = Annotated[BlackspotJobs, Depends(blackspot_jobs)]
ChangeTailDep = Annotated[ChangeTail, Depends(change_tail)]
SseStreams = Annotated[Capacity, Depends(sse_streams)]
Audit = Annotated[AuditContext, Depends(audit_context)]
ExchangePartner = Annotated[Partner, Depends(exchange_partner(SCHEMA))]


def exchange_audit_context(request: Request, partner: ExchangePartner) -> AuditContext:
    return request_audit(request, actor=f"exchange:{partner.key_id}")


ExchangeAudit = Annotated[AuditContext, Depends(exchange_audit_context)]
