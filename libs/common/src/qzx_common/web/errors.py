"""The error model: every error body is ``{"error": "<code>", "detail": "<human text>"}``.

Services raise ``ApiError`` subclasses (or their own typed errors mapped by the router); nothing
is remapped wholesale: an unexpected exception is a 500 and is logged with its traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class InvalidRequest(ApiError):
    status_code = 422
    code = "invalid_request"


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **extra}


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"] if p != "body")
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


# Driver errors are classified as SQLAlchemy classifies DB-API errors (DataError, OperationalError),
# whether SQLAlchemy wrapped them or they came from a raw asyncpg connection (the fast read paths):
# SQLSTATE class 22 ("data exception": a value from the request that the database refused) is the
# client's error; a failed or refused connection is 503 to retry; anything else stays a 500.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})  # U+0000 in text or jsonb
_UNAVAILABLE = ("08", "57P01", "57P02", "57P03", "53300")  # connection; shutdown/startup; too many


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    code: str
    detail: str


_INVALID_TEXT = _Refusal(
    422, "invalid_text", "the text contains a character that cannot be stored (such as U+0000)"
)
_INVALID_VALUE = _Refusal(422, "invalid_request", "a value is out of range for its field")
_UNREACHABLE = _Refusal(503, "database_unavailable", "the database connection was lost; retry")
# Every pooled connection busy for the pool's whole timeout: the process is over its capacity.
_BUSY = _Refusal(503, "database_busy", "every database connection of this process is busy; retry")


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def classify_driver_error(exc: BaseException) -> _Refusal | None:
    """What the client is told about a driver error (None: an internal error)."""
    for candidate in (exc, exc.__cause__):
        if candidate is None:
            continue
        state = _sqlstate(candidate)
        if state in _UNSTORABLE_TEXT:
            return _INVALID_TEXT
        if state is not None and state.startswith("22"):
            return _INVALID_VALUE
        if state is not None and state.startswith(_UNAVAILABLE):
            return _UNREACHABLE
        if isinstance(candidate, asyncpg.exceptions.DataError):  # refused before it was sent
            return _INVALID_VALUE
        if isinstance(candidate, ConnectionError | asyncpg.exceptions.ConnectionDoesNotExistError):
            return _UNREACHABLE
    return None


def _refusal_response(refusal: _Refusal) -> JSONResponse:
    headers = {"Retry-After": "1"} if refusal.status == 503 else None
    return JSONResponse(error_body(refusal.code, refusal.detail), status_code=refusal.status, headers=headers)


def _driver_error(exc: BaseException, refusal: _Refusal | None) -> JSONResponse:
    if refusal is None:
        log.error("database error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "the database refused the request"), status_code=500)
    if refusal.status == 503:
        log.warning("database unavailable", extra={"error": str(exc)[:300]})
    return _refusal_response(refusal)


def install_error_handlers(app: FastAPI) -> None:
    from qzx_common.web.openapi import install_error_docs

    install_error_docs(app)  # the OpenAPI document describes the bodies these handlers send

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.detail), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _validation_detail(exc)), status_code=422)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        refusal = _UNREACHABLE if exc.connection_invalidated else classify_driver_error(exc.orig or exc)
        return _driver_error(exc, refusal)

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        return _driver_error(exc, _BUSY)

    # Raw asyncpg connections (fast read paths) and connecting itself raise the driver's own errors.
    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(ConnectionError)
    async def _driver(request: Request, exc: Exception) -> JSONResponse:
        return _driver_error(exc, classify_driver_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
