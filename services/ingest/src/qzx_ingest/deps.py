"""The one dependencies module: database session per request, committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.audit import AuditContext
from qzx_common.runtime import Runtime
from qzx_common.web.auth import audit_context, request_audit
from qzx_common.web.exchange import Partner, exchange_partner
from qzx_common.web.service import ServiceState, service_state
from qzx_ingest.db import SCHEMA


def state(request: Request) -> ServiceState:
    return service_state(request, ServiceState)


def runtime(request: Request) -> Runtime:
    return state(request).runtime


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as s, s.begin():
        yield s


Session = Annotated[AsyncSession, Depends(session, scope="function")]  # committed before the response
RuntimeDep = Annotated[Runtime, Depends(runtime)]
Audit = Annotated[AuditContext, Depends(audit_context)]
ExchangePartner = Annotated[Partner, Depends(exchange_partner(SCHEMA))]


def exchange_audit_context(request: Request, partner: ExchangePartner) -> AuditContext:
    return request_audit(request, actor=f"exchange:{partner.key_id}")


ExchangeAudit = Annotated[AuditContext, Depends(exchange_audit_context)]
