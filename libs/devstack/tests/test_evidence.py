"""`make run`'s evidence pictures: the simulator names them at the development evidence server when
told to (s3:// otherwise), the server draws a JPEG for every name, and `qzx dev` tells it to."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from PIL import Image

from qzx_common.contracts.events import ViolationEvent
from qzx_dev.evidence import create_app
from qzx_dev.launcher import LaunchSettings, simulator_args
from qzx_dev.simulator import EventGenerator
from qzx_dev.simulator.cli import build_parser
from qzx_ingest.violations import reader as event_reader

BASE = "http://127.0.0.1:8010/evidence"


def events(evidence_url: str | None = None) -> list[ViolationEvent]:
    messages = EventGenerator(seed=5, dup_share=0, bad_share=0, evidence_url=evidence_url).batch(300)
    # ingest reads them on its fast path, as it does the s3:// ones
    assert all(event_reader._read_canonical(m.value) is not None for m in messages)
    return [ViolationEvent.model_validate_json(m.value) for m in messages]


def test_without_an_evidence_url_the_uris_stay_s3() -> None:
    uris = [e.uri for event in events() for e in event.evidence]
    assert uris and all(u.startswith("s3://evidence/") for u in uris)


def test_with_an_evidence_url_every_uri_names_its_device_and_plate_there() -> None:
    seen = events(evidence_url=BASE + "/")
    assert any(event.plate is None for event in seen)  # plateless violations are among them
    for event in seen:
        assert event.evidence
        for i, evidence in enumerate(event.evidence):
            uri = urlsplit(evidence.uri)
            assert f"{uri.scheme}://{uri.netloc}{uri.path}".startswith(f"{BASE}/{event.location.admin_code}/")
            assert uri.path.endswith(f"/{event.event_id}-{i}.jpg")
            query = parse_qs(uri.query)
            assert query["device"] == [event.device_id]
            assert query.get("plate") == ([event.plate] if event.plate else None)


async def test_the_server_draws_a_jpeg_for_a_simulated_uri() -> None:
    event = next(e for e in events(evidence_url=BASE) if e.plate)
    uri = urlsplit(event.evidence[0].uri)
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://dev") as client:
        assert (await client.get("/readyz")).status_code == 200
        response = await client.get(f"{uri.path}?{uri.query}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        picture = Image.open(io.BytesIO(response.content))
        assert (picture.format, picture.size) == ("JPEG", (640, 400))
        other = await client.get(f"{uri.path}?{urlencode({'device': 'D-1', 'plate': '鲁B00001'})}")
        assert other.content != response.content  # the plate and the device are drawn


def test_qzx_dev_starts_the_simulator_with_its_evidence_server() -> None:
    args = simulator_args(LaunchSettings(dev_evidence_port=18010), 5.0)
    parsed = build_parser().parse_args(args[3:])
    assert parsed.evidence_url == "http://127.0.0.1:18010/evidence"
    assert parsed.rate == 5.0
