"""schemathesis over each service's OpenAPI document: no 5xx, no undocumented status, bodies as
documented. Each service runs on a real uvicorn server (its own thread and event loop) on the
test stack; requests carry a province commander's token, exchange requests a valid signature.
Kept small (a few examples per operation) so that each service takes seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sec_support import PARTNERS, bearer, common_settings

from qzx_common.web.exchange import sign_headers
from qzx_dev.embedded import free_port
from qzx_dev.testing import Stack

pytestmark = [pytest.mark.db]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))


class Signed(requests.auth.AuthBase):
    """Signs a prepared request exactly as it goes on the wire."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        body = body.encode() if isinstance(body, str) else body
        r.headers.update(
            sign_headers(
                key_id="ministry",
                secret=PARTNERS["ministry"]["secret"],
                method=r.method or "GET",
                path_with_query=r.path_url,
                body=body,
            )
        )
        return r


def _serve(app: Any) -> Iterator[str]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


def _schema(base_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


@pytest.fixture(scope="module")
def ingest_url(stack: Stack) -> Iterator[str]:
    from qzx_ingest.main import create_app
    from qzx_ingest.settings import IngestSettings

    yield from _serve(create_app(IngestSettings(**common_settings(stack)), consume=False))


@pytest.fixture(scope="module")
def alerts_url(stack: Stack) -> Iterator[str]:
    from qzx_alerts.main import create_app
    from qzx_alerts.settings import AlertsSettings

    yield from _serve(create_app(AlertsSettings(**common_settings(stack)), consume=False))


@pytest.fixture(scope="module")
def dispatch_url(stack: Stack) -> Iterator[str]:
    from qzx_dispatch.main import create_app
    from qzx_dispatch.settings import DispatchSettings

    yield from _serve(create_app(DispatchSettings(**common_settings(stack)), consume=False))


def _fuzz(base_url: str) -> list[str]:
    """Every operation of the document, a few generated cases each; returns the failures."""
    schema = _schema(base_url)
    failures: list[str] = []
    # Streams never end, so a generated call cannot complete; they are tested where they live.
    operations = [
        op for result in schema.get_all_operations() if not (op := result.ok()).path.endswith("/stream")
    ]
    assert operations, "the OpenAPI document lists no operations"
    for operation in operations:

        @EXAMPLES
        @given(case=st.one_of(operation.as_strategy(mode) for mode in GenerationMode))
        def run(case: Any) -> None:
            _call(case)

        try:
            run()
        except Exception as exc:  # collect, so one run reports every failing operation
            failures.append(f"{operation.label}: {exc}")
    return failures


def _call(case: Any) -> None:
    if case.path.startswith("/v1/exchange/"):
        case.call_and_validate(checks=CHECKS, auth=Signed(), timeout=30)
    else:
        case.call_and_validate(
            checks=CHECKS, headers=bearer("province_commander"), params={"wait": 0}, timeout=30
        )


def _open_stream(case: Any, base_url: str, documented: set[str]) -> None:
    """A stream never ends, so ``call_and_validate`` cannot read it: open it, check the status line
    and headers (and an error's body), and hang up."""
    try:
        kwargs = case.as_transport_kwargs(base_url=base_url, headers=bearer("province_commander"))
        prepared = requests.Request(**kwargs).prepare()
    except (ValueError, UnicodeError):
        return  # a header no HTTP client can send (negative generation): nothing reaches the server
    with requests.Session() as session, session.send(prepared, stream=True, timeout=10) as r:
        assert r.status_code < 500, r.status_code
        assert str(r.status_code) in documented, f"undocumented status {r.status_code}"
        media = r.headers.get("content-type", "")
        if r.status_code == 200:
            assert media.startswith("text/event-stream"), media
            assert next(r.iter_lines()).startswith(b"retry:")
        else:
            assert media.startswith("application/json"), media
            assert set(r.json()) == {"error", "detail"}


def test_alerts_streams_answer_documented_statuses(alerts_url: str) -> None:
    """The streams ``_fuzz`` leaves out, with generated query parameters and headers."""
    streams = [
        op for r in _schema(alerts_url).get_all_operations() if (op := r.ok()).path.endswith("/stream")
    ]
    assert streams, "alerts documents no stream"
    failures = []
    for operation in streams:
        try:
            _stream_cases(operation, alerts_url)()
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert failures == []


def _stream_cases(operation: Any, base_url: str) -> Any:
    documented = set(operation.definition.raw["responses"])

    @EXAMPLES
    @given(case=st.one_of(operation.as_strategy(mode) for mode in GenerationMode))
    def run(case: Any) -> None:
        _open_stream(case, base_url, documented)

    return run


def test_ingest_api(ingest_url: str) -> None:
    assert _fuzz(ingest_url) == []


def test_alerts_api(alerts_url: str) -> None:
    assert _fuzz(alerts_url) == []


def test_dispatch_api(dispatch_url: str) -> None:
    assert _fuzz(dispatch_url) == []
