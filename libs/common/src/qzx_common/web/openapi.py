"""Error responses in the OpenAPI document, so that clients (and schemathesis) know every status.

``install_error_docs(app)`` (called by ``install_error_handlers``) adds, to every ``/v1`` operation, the
refusals the shared plumbing can produce, all with the ``{"error", "detail"}`` body:
401/403/429/503 (token or signature, jurisdiction, throttling, identity provider), 422 (replacing
FastAPI's own validation schema, which our handler does not emit), 400 and 413 on operations with
a body (unreadable, too large), 404 on operations with path parameters. Codes a route itself raises (409, ...) it declares with
``responses=error_responses(409)``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

_DESCRIPTIONS = {
    400: "The body cannot be read as the declared media type (malformed_body)",
    401: "Missing or invalid credentials (`error` says which: token_expired, bad_signature, ...)",
    403: "Authenticated but not allowed (role_forbidden, out_of_jurisdiction, out_of_scope, ...)",
    404: "No such resource within the caller's jurisdiction",
    409: "Conflicts with the resource's current state",
    413: "Request body too large (payload_too_large)",
    422: "Invalid request (the `detail` names the field)",
    429: "Too many failed authentications from this address (see Retry-After)",
    503: "A dependency (identity provider, database) is unavailable",
}


class ErrorBody(BaseModel):
    error: str
    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the given statuses with the shared error body."""
    return {c: {"model": ErrorBody, "description": _DESCRIPTIONS.get(c, "Error")} for c in codes}


AUTHENTICATED = error_responses(401, 403, 422, 429, 503)
SIGNED = error_responses(401, 403, 413, 422, 429)

_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _error_doc(code: int) -> dict[str, Any]:
    return {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": _REF}}}


def install_error_docs(app: FastAPI) -> None:
    """``install_error_handlers`` calls it (once per app), so every service gets it."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = (
            ErrorBody.model_json_schema()
        )
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for op in operations.values():
                _document(op, has_path_params="{" in path)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(op: dict[str, Any], *, has_path_params: bool) -> None:
    responses = op.setdefault("responses", {})
    codes = [401, 403, 422, 429, 503]
    if "requestBody" in op:
        codes += [400, 413]
    if has_path_params:
        codes.append(404)
    for code in codes:
        doc = responses.get(str(code))
        if doc is None or "HTTPValidationError" in str(doc):
            responses[str(code)] = _error_doc(code)
