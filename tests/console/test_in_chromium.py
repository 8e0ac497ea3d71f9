"""The console's page in Chromium against a stand-in of the three services: a point on the map's
canvas layer opens its alert when clicked and a cluster zooms in; an escalation pushed on
dispatch's escalation stream rings the banner without a poll, once however often it repeats; a
mutual-aid proposal is offered to a commander to accept, with a reason, and not to a dispatcher."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from qzx_console.main import create_app
from qzx_console.settings import ConsoleSettings
from qzx_dev.browser import LAUNCH_ARGS, chromium
from qzx_dev.testing import serve

CHROMIUM = chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install -y chromium)")
ESCALATION = {
    "id": "E-1",
    "kind": "p1_waiting",
    "alert_id": "a-2",
    "task_id": None,
    "unit_id": None,
    "priority": "P1",
    "admin_code": "370102",
    "reason": "no unit lacks breathalyser",
    "at": "",
}


# A 1×1 PNG: a picture the browser decodes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def alert(i: int, lat: float, lon: float) -> dict[str, Any]:
    seen = (datetime.now(UTC) - timedelta(seconds=5 + i)).isoformat()
    return {
        "id": f"a-{i}",
        "kind": "violation",
        "status": "dispatched",
        "priority": "P2",
        "score": 50,
        "factors": [],
        "violations": ["speeding"],
        "plate": f"鲁A{i:05d}",
        "admin_code": "370102",
        "location": {"lat": lat, "lon": lon, "admin_code": "370102"},
        "first_seen": seen,
        "last_seen": seen,
        "count": 1,
        "event_ids": [],
        "task_id": None,
        "version": 1,
        "updated_at": seen,
    }


class Services:
    """Alerts around Jinan (one apart, a crowd of 40 near Qingdao) and an escalation stream the test writes to."""

    def __init__(self) -> None:
        self.alerts = [alert(1, 36.30, 117.60)] + [
            alert(100 + i, 36.07 + i / 2000, 120.38) for i in range(40)
        ]
        self.escalations: list[asyncio.Queue[str]] = []
        self.escalation_requests: list[str] = []
        self.escalations_opened = asyncio.Event()
        self.aid = {
            "id": "M-1",
            "alert_id": "a-1",
            "unit_id": "U-370900-07",
            "alert_admin_code": "370102",
            "unit_admin_code": "370902",
            "state": "proposed",
            "reason": "本市无酒检车 no breathalyser car",
            "proposed_by": "dispatcher-3701",
            "decided_by": None,
            "decision_reason": None,
            "task_id": None,
            "created_at": datetime.now(UTC).isoformat(),
            "decided_at": None,
        }
        self.decisions: list[tuple[str, dict[str, Any]]] = []
        self.url = ""  # where the stand-in listens
        self.events: dict[str, dict[str, Any]] = {}  # ingest's camera events by id

    def push(self, event: dict[str, Any]) -> None:
        for q in self.escalations:
            q.put_nowait(f"id: {event['id']}\nevent: escalation\ndata: {json.dumps(event)}\n\n")

    def app(self) -> FastAPI:
        app = FastAPI()

        async def held(q: asyncio.Queue[str] | None) -> AsyncIterator[bytes]:
            yield b": hello\n\n"
            while True:
                yield (await q.get()).encode() if q else (await asyncio.sleep(3600) or b"")

        @app.get("/v1/alerts")
        async def alerts() -> dict[str, Any]:
            return {"items": self.alerts, "next_cursor": None}

        @app.get("/v1/alerts/stream")
        async def alert_stream() -> StreamingResponse:
            return StreamingResponse(held(None), media_type="text/event-stream")

        @app.get("/v1/dispatch/escalations/stream")
        async def escalation_stream(request: Request) -> StreamingResponse:
            self.escalation_requests.append(request.url.query)
            q: asyncio.Queue[str] = asyncio.Queue()
            self.escalations.append(q)
            self.escalations_opened.set()
            return StreamingResponse(held(q), media_type="text/event-stream")

        @app.get("/v1/dispatch/mutual-aid")
        async def aid_list() -> dict[str, Any]:
            return {"items": [self.aid], "next_cursor": None}

        @app.post("/v1/dispatch/mutual-aid/{aid_id}/{verb}")
        async def decide(aid_id: str, verb: str, request: Request) -> dict[str, Any]:
            self.decisions.append((f"{aid_id}/{verb}", await request.json()))
            self.aid |= {"state": "accepted", "decided_by": "commander-3709", "task_id": "T-9"}
            self.aid["decision_reason"] = self.decisions[-1][1]["reason"]
            return {"aid": self.aid, "task": {}}

        @app.get("/v1/violations/{event_id}")
        async def violation(event_id: str) -> dict[str, Any]:
            return self.events[event_id]

        @app.get("/evidence/{name}")
        async def image(name: str) -> Response:
            return Response(PNG, media_type="image/png")

        @app.get("/v1/alerts/{alert_id}")
        async def one(alert_id: str) -> dict[str, Any]:
            return next(a for a in self.alerts if a["id"] == alert_id)

        @app.api_route("/{path:path}", methods=["GET"])
        async def empty(path: str) -> dict[str, Any]:
            return {"items": [], "next_cursor": None, "status": "ok"}

        return app


def token(role: str = "dispatcher") -> str:
    """The stand-in checks nothing; the page reads the role from the claims."""
    claims = {"sub": "t", "role": role, "jur": "37", "exp": int(time.time()) + 3600}
    return "e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".t"


@pytest.fixture
async def site() -> AsyncIterator[tuple[Any, str, Services]]:
    """Chromium, the console's address and the stand-in services behind it."""
    from playwright.async_api import async_playwright

    services = Services()
    async with serve(services.app()) as up:
        settings = ConsoleSettings(ingest_url=up, alerts_url=up, dispatch_url=up, log_json=False)
        async with serve(create_app(settings)) as console, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            services.url = up
            yield browser, console, services
            await browser.close()


async def open_console(browser: Any, console: str, role: str = "dispatcher", address: str = "/") -> Any:
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    await context.add_init_script(f"sessionStorage.setItem('qzx.console.token', {json.dumps(token(role))})")
    p = await context.new_page()
    await p.goto(f"{console}{address}")
    await p.wait_for_function("window.qzxMap && window.qzxMap.alertMarkers.size === 41")
    return p


@pytest.fixture
async def page(site: tuple[Any, str, Services]) -> tuple[Any, Services]:
    browser, console, services = site
    return await open_console(browser, console), services


async def click_at(page: Any, lat: float, lon: float) -> None:
    box = await page.locator("#map").bounding_box()
    at = await page.evaluate(
        "([lat, lon]) => window.qzxMap.map.latLngToContainerPoint([lat, lon])", [lat, lon]
    )
    await page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])


async def test_a_point_opens_its_alert_and_a_cluster_zooms_in(page: tuple[Any, Services]) -> None:
    p, _ = page
    await p.evaluate("window.qzxMap.map.setView([36.30, 117.60], 10, { animate: false })")
    await p.wait_for_timeout(200)  # the layer redraws when the view settles
    await click_at(p, 36.30, 117.60)
    await p.wait_for_function("location.hash === '#alert=a-1'")
    await p.locator("#detail", has_text="鲁A00001").wait_for()
    await click_at(p, 36.40, 117.70)  # nothing there: the selection stays
    await p.wait_for_timeout(200)
    assert await p.evaluate("location.hash") == "#alert=a-1"

    await p.evaluate("window.qzxMap.map.setView([36.08, 120.38], 7, { animate: false })")
    await p.wait_for_timeout(200)
    drawn = await p.evaluate("window.qzxMap.layers.alerts.drawn")
    assert drawn < 41  # Qingdao's crowd is one disc below zoom 8
    await click_at(p, 36.08, 120.38)
    await p.wait_for_function("window.qzxMap.map.getZoom() >= 8")


async def test_an_escalation_on_the_stream_rings_the_banner_once(page: tuple[Any, Services]) -> None:
    p, services = page
    await p.mouse.click(5, 5)  # a person has touched the page: the browser lets it play a sound
    await asyncio.wait_for(services.escalations_opened.wait(), 10)
    assert services.escalation_requests[0].startswith("since=")  # the last half hour first
    event = ESCALATION | {"at": datetime.now(UTC).isoformat()}
    services.push(event)
    banner = p.locator("#escalation a[data-kind=p1_waiting][href='#alert=a-2']")
    await banner.wait_for(timeout=3000)  # the stream's, not a poll's (the list route is empty here)
    await p.wait_for_function("Number(document.body.dataset.beeps || 0) === 1")
    services.push(event)  # a repeat (a resumed stream) rings nothing
    await p.wait_for_timeout(800)
    assert await p.evaluate("Number(document.body.dataset.beeps || 0)") == 1
    assert await p.locator("#escalation a[data-kind=p1_waiting]").count() == 1


async def test_a_commander_accepts_a_mutual_aid_proposal_a_dispatcher_only_sees(
    site: tuple[Any, str, Services],
) -> None:
    browser, console, services = site
    p = await open_console(browser, console)
    await p.evaluate("location.hash = '#/aid'")
    row = p.locator("#view-aid tr", has_text="U-370900-07")
    await row.wait_for()
    assert "待邻市指挥决定" in await row.inner_text()  # a dispatcher may propose, not decide
    assert await p.locator("#view-aid form[data-action=aid-propose]").count() == 1
    assert await row.locator("form[data-action=aid-decide]").count() == 0

    p = await open_console(browser, console, "city_commander")
    await p.evaluate("location.hash = '#/aid'")
    form = p.locator("#view-aid form[data-action=aid-decide]")
    await form.wait_for()
    await form.locator("input[name=reason]").fill("济宁派车 Jining sends its car")
    await form.locator("button[value=accept]").click()
    await p.locator("#view-aid tr", has_text="T-9").wait_for()
    assert services.decisions == [("M-1/accept", {"reason": "济宁派车 Jining sends its car"})]
    assert (
        "Jining sends its car (commander-3709" in await p.locator("#view-aid tr", has_text="T-9").inner_text()
    )


async def test_an_event_shows_its_http_evidence_as_a_thumbnail_and_other_uris_as_text(
    site: tuple[Any, str, Services],
) -> None:
    browser, console, services = site
    web = f"{services.url}/evidence/E-1-0.png"
    services.alerts[0]["event_ids"] = ["E-1"]
    services.events["E-1"] = {
        "event_id": "E-1",
        "device_id": "D-370102-001",
        "captured_at": datetime.now(UTC).isoformat(),
        "violation": "speeding",
        "plate": "鲁A00001",
        "location": {"lat": 36.3, "lon": 117.6, "admin_code": "370102"},
        "evidence": [
            {"uri": web, "sha256": "0" * 64},
            {"uri": "s3://evidence/370102/E-1-1.jpg", "sha256": "1" * 64},
        ],
    }
    p = await open_console(browser, console, address="/#alert=a-1")
    thumb = p.locator("#detail .event a[target=_blank] img.evidence-thumb")
    await thumb.wait_for()
    assert await thumb.get_attribute("src") == web
    assert await thumb.get_attribute("loading") == "lazy"
    assert (await thumb.get_attribute("alt") or "").startswith("证据图 1")
    assert await p.locator("#detail .event a[target=_blank]").get_attribute("href") == web
    await p.wait_for_function("document.querySelector('#detail img.evidence-thumb').naturalWidth > 0")
    assert await p.locator("#detail .event img").count() == 1  # no broken image for s3://
    assert await p.locator("#detail .evidence-uri").inner_text() == "s3://evidence/370102/E-1-1.jpg"
