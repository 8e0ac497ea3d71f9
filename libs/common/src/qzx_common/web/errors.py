"""The error model: every error body is ``{"error": "<code>", "detail": "<human text>"}``.

Services raise ``ApiError`` subclasses (or their own typed errors mapped by the router); nothing
is remapped wholesale: an unexpected exception is a 500 and is logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
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


# SQLSTATEs PostgreSQL raises for text it cannot store (U+0000 in text or jsonb). They come from the
# client's input, so they are the client's error; anything else from the database stays a 500.
_UNSTORABLE_TEXT = {"22021": "character_not_in_repertoire", "22P05": "untranslatable_character"}


def _client_data_error(exc: DBAPIError) -> bool:
    """asyncpg refused a parameter before sending it (e.g. an integer beyond int64)."""
    cause = getattr(exc.orig, "__cause__", None)
    return isinstance(cause, asyncpg.exceptions.DataError)


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return None


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
        if _sqlstate(exc) in _UNSTORABLE_TEXT:
            detail = "the text contains a character that cannot be stored (such as U+0000)"
            return JSONResponse(error_body("invalid_text", detail), status_code=422)
        if _client_data_error(exc):
            detail = "a value is out of range for its field"
            return JSONResponse(error_body("invalid_request", detail), status_code=422)
        if exc.connection_invalidated:  # the server dropped the connection (a restart, a failover)
            log.warning("database connection lost", extra={"error": str(exc.orig)[:300]})
            detail = "the database connection was lost; retry"
            return JSONResponse(
                error_body("database_unavailable", detail), status_code=503, headers={"Retry-After": "1"}
            )
        log.error("database error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "the database refused the request"), status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
