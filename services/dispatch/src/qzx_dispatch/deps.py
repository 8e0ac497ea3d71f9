"""The one dependencies module. A request's session commits when the endpoint returns (before the
response is sent: ``scope="function"``), then wakes the outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext
from qzx_common.runtime import Runtime
from qzx_common.web.auth import audit_context
from qzx_common.web.service import service_state
from qzx_dispatch.clock import Clock
from qzx_dispatch.patrol.notifier import UnitNotifier
from qzx_dispatch.settings import DispatchSettings
from qzx_dispatch.state import DispatchState


def state(request: Request) -> DispatchState:
    return service_state(request, DispatchState)


def runtime(request: Request) -> Runtime:
    return state(request).runtime


def settings(request: Request) -> DispatchSettings:
    return state(request).settings


def clock(request: Request) -> Clock:
    return state(request).clock


def notifier(request: Request) -> UnitNotifier:
    return state(request).notifier


def long_poll_slot(request: Request) -> Iterator[None]:
    """A place among the process's held long-polls for this request (503 when none is free)."""
    with state(request).long_polls.hold():
        yield


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    rt = runtime(request)
    async with rt.sessions() as s, s.begin():
        yield s
    rt.relay.wake()


Session = Annotated[AsyncSession, Depends(session, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
SettingsDep = Annotated[DispatchSettings, Depends(settings)]
ClockDep = Annotated[Clock, Depends(clock)]
NotifierDep = Annotated[UnitNotifier, Depends(notifier)]
Audit = Annotated[AuditContext, Depends(audit_context)]
LongPollSlot = Annotated[None, Depends(long_poll_slot)]
