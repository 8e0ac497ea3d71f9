"""The one dependencies module: database session per request, committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qzx_common.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with runtime(request).sessions() as s, s.begin():
        yield s


Session = Annotated[AsyncSession, Depends(session)]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
