"""Property-based fuzzing of exchange payloads: whatever a partner sends, the answer is a 202 with
one verdict per item (or a 4xx for the whole body), never a server error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sec_support import PARTNERS, jinan_event, qingdao_event

from qzx_common.web.exchange import sign_headers

pytestmark = [pytest.mark.db]

PATH = "/v1/exchange/violations"
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.just("nul\x00inside"),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "event_id",
    "device_id",
    "device_kind",
    "captured_at",
    "violation",
    "plate",
    "plate_color",
    "vehicle_class",
    "location",
    "measurements",
    "confidence",
    "evidence",
]


@st.composite
def items(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["valid", "mutated", "dropped", "garbage"]))
    event = draw(st.sampled_from([jinan_event, qingdao_event]))()
    if kind == "mutated":
        event[draw(st.sampled_from(FIELDS))] = draw(json_values)
    elif kind == "dropped":
        event.pop(draw(st.sampled_from(FIELDS)))
    elif kind == "garbage":
        return draw(json_values)
    return event


async def _post(ingest: httpx.AsyncClient, body: bytes, key_id: str = "qingdao") -> httpx.Response:
    headers = sign_headers(
        key_id=key_id, secret=PARTNERS[key_id]["secret"], method="POST", path_with_query=PATH, body=body
    )
    return await ingest.post(PATH, content=body, headers=headers | {"content-type": "application/json"})


@FUZZ
@given(events=st.lists(items(), max_size=12), repeat=st.booleans())
async def test_every_item_gets_exactly_one_verdict(
    ingest: httpx.AsyncClient, events: list[Any], repeat: bool
) -> None:
    if repeat and events:
        events = events + events[:1]  # a duplicate inside the batch
    r = await _post(ingest, json.dumps({"events": events}).encode())  # stdlib: integers of any size
    assert r.status_code == 202, r.text
    result = r.json()
    indices = [e["index"] for e in result["rejected"]]
    assert indices == sorted(set(indices)) and all(0 <= i < len(events) for i in indices)
    assert all(isinstance(e["error"], str) and e["error"] for e in result["rejected"])
    assert result["accepted"] + result["duplicates"] + len(indices) == len(events)
    for i, item in enumerate(events):
        admin = (
            item.get("location", {}).get("admin_code")
            if isinstance(item, dict) and isinstance(item.get("location"), dict)
            else None
        )
        if isinstance(admin, str) and not admin.startswith("3702") and len(admin) == 6 and admin.isdigit():
            # Whatever else is wrong with it, nothing outside Qingdao is ever accepted from Qingdao.
            assert i in indices


@FUZZ
@given(body=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
async def test_arbitrary_bodies_never_cause_a_server_error(ingest: httpx.AsyncClient, body: bytes) -> None:
    r = await _post(ingest, body, key_id="ministry")
    assert r.status_code in (202, 422), r.text
    assert set(r.json()) == (
        {"accepted", "duplicates", "rejected"} if r.status_code == 202 else {"error", "detail"}
    )
