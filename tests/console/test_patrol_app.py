"""The patrol app as an installable, offline-loadable page that shares its unit's position: the
manifest, its icons and the service worker are served, the worker's shell is exactly what the page
loads; in Chromium against a stand-in of dispatch, the phone's position reaches
`POST /v1/patrol/location` (the first at once, then at most one per interval, the newest, none
while offline), once the worker is active the page opens with the console gone and lists the
action it queued offline, and a task's card explains its alert and shows its events' evidence,
offline too, from the worker's copy of the newest pictures."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import struct
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from qzx_console.main import STATIC, create_app
from qzx_console.settings import ConsoleSettings
from qzx_dev.browser import LAUNCH_ARGS, chromium
from qzx_dev.testing import serve

CHROMIUM = chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install -y chromium)")
IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+"(\./[\w.-]+\.js)";""", re.MULTILINE | re.DOTALL)
LOCAL_REF = re.compile(r"""(?:href|src)="(/[^"]*)\"""")
UNIT = "U-371700-01"
# A 1×1 PNG: a picture the browser decodes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
JINAN = {"latitude": 36.6512, "longitude": 117.1201}


def shell_of(worker: str) -> list[str]:
    block = re.search(r"const SHELL = \[(.*?)\];", worker, re.DOTALL)
    assert block, "sw.js lists its shell in `const SHELL = [...]`"
    return re.findall(r'"([^"]+)"', block.group(1))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_the_manifest_makes_the_patrol_page_installable(client: httpx.AsyncClient) -> None:
    page = (await client.get("/patrol/")).text
    assert '<link rel="manifest" href="/patrol/patrol.webmanifest">' in page
    response = await client.get("/patrol/patrol.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert "交警巡逻" in manifest["name"] and "Patrol" in manifest["name"]
    assert (manifest["start_url"], manifest["scope"], manifest["display"]) == (
        "/patrol/",
        "/patrol/",
        "standalone",
    )
    sizes = set()
    for icon in manifest["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/png", icon
        width, height = png_size(image.content)
        assert icon["sizes"] == f"{width}x{height}" and width == height
        sizes.add(width)
    assert {192, 512} <= sizes


async def test_the_service_worker_keeps_exactly_what_the_page_loads(client: httpx.AsyncClient) -> None:
    response = await client.get("/patrol/sw.js")
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    shell = shell_of(response.text)
    assert len(shell) == len(set(shell))
    assert not [path for path in shell if path.startswith("/api/")]  # dispatch's answers are never kept

    # What the page loads: the page, what it links, the modules its entry imports, the manifest's icons.
    page = (await client.get("/patrol/")).text
    loads = {"/patrol/", *LOCAL_REF.findall(page)}
    pending = ["patrol.js"]
    while pending:
        module = (await client.get(f"/static/js/{pending.pop()}")).text
        for target in IMPORT.findall(module):
            path = f"/static/js/{target.removeprefix('./')}"
            if path not in loads:
                loads.add(path)
                pending.append(target.removeprefix("./"))
    manifest = (await client.get("/patrol/patrol.webmanifest")).json()
    loads |= {icon["src"] for icon in manifest["icons"]}
    assert set(shell) == loads
    for path in shell:
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_service_worker_parses() -> None:
    result = subprocess.run(
        ["node", "--check", str(STATIC / "patrol-sw.js")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


class Dispatch:
    """dispatch's patrol routes as the page uses them: one assigned task, the long-poll held a
    second at a time after it, the positions and sign-fors it receives kept for the test."""

    def __init__(self) -> None:
        self.locations: list[tuple[dict[str, Any], str | None]] = []  # (body, X-Device-Id)
        self.signed: list[str] = []
        self.location_reply: tuple[int, dict[str, Any]] | None = None  # instead of accepting
        self.url = ""  # where the stand-in listens (it serves the evidence pictures too)
        self.pictures: list[str] = []  # the evidence pictures it served

    def app(self) -> FastAPI:
        app = FastAPI()
        task = {
            "id": "T-1",
            "alert_id": "A-1",
            "unit_id": UNIT,
            "priority": "P2",
            "summary": "超速 鲁R12345",
            "status": "assigned",
            "target": {"lat": 35.23, "lon": 115.48, "admin_code": "371702"},
            "intercept_point": None,
            "sign_by": None,
            "outcome": None,
            "updated_at": datetime.now(UTC).isoformat(),
            "alert": {
                "plate": "鲁R12345",
                "violations": ["drunk_driving"],
                "factors": [
                    {"name": "night", "value": "02:10", "contribution": 5, "why": "at night (02:10 local)"},
                    {"name": "severity", "value": 95, "contribution": 60, "why": "BAC 95 mg/100mL"},
                ],
                "event_ids": ["E-1"],
            },
        }

        def with_evidence(task: dict[str, Any]) -> dict[str, Any]:
            """The alert's pictures come with the task (their URIs name where the stand-in listens)."""
            evidence = [
                {"event_id": "E-1", "uri": f"{self.url}/evidence/E-1-0.png", "sha256": "0" * 64},
                {"event_id": "E-1", "uri": "s3://evidence/371702/E-1-1.jpg", "sha256": "1" * 64},
            ]
            return task | {"alert": task["alert"] | {"evidence": evidence}}

        @app.get("/evidence/{name}")
        async def image(name: str) -> Response:
            self.pictures.append(name)
            # Not kept by the browser's HTTP cache: a copy the page shows offline is the worker's.
            return Response(PNG, media_type="image/png", headers={"Cache-Control": "no-store"})

        @app.get("/v1/patrol/tasks")
        async def tasks(cursor: int = 0) -> dict[str, Any]:
            if cursor == 0:
                return {"tasks": [with_evidence(task)], "cursor": 1}
            await asyncio.sleep(1)
            return {"tasks": [], "cursor": cursor}

        @app.post("/v1/patrol/location")
        async def location(request: Request) -> JSONResponse:
            body = await request.json()
            self.locations.append((body, request.headers.get("x-device-id")))
            if self.location_reply:
                return JSONResponse(self.location_reply[1], status_code=self.location_reply[0])
            return JSONResponse({"unit_id": UNIT, **body, "applied": True})

        @app.post("/v1/patrol/tasks/{task_id}/sign")
        async def sign(task_id: str) -> dict[str, Any]:
            self.signed.append(task_id)
            return with_evidence(task) | {"status": "signed"}

        return app


def officer_token() -> str:
    """The stand-in checks nothing; the page reads the officer and the unit from the claims."""
    claims = {
        "sub": "O371700-001",
        "name": "巡逻警员",
        "role": "patrol_officer",
        "jur": "3717",
        "unit_id": UNIT,
        "exp": int(time.time()) + 3600,
    }
    return "e30." + base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=") + ".t"


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[Any, ConsoleSettings, Dispatch]]:
    """Chromium, the settings of a console in front of the stand-in, and the stand-in."""
    from playwright.async_api import async_playwright

    dispatch = Dispatch()
    async with serve(dispatch.app()) as up, async_playwright() as pw:
        dispatch.url = up
        settings = ConsoleSettings(ingest_url=up, alerts_url=up, dispatch_url=up, log_json=False)
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser, settings, dispatch
        await browser.close()


async def phone(browser: Any, console: str, **options: Any) -> Any:
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="zh-CN", **options
    )
    await context.add_init_script(
        f"sessionStorage.setItem('qzx.console.token', {json.dumps(officer_token())})"
    )
    page = await context.new_page()
    return page


def interval_ms() -> int:
    source = (STATIC / "js" / "patrol-location.js").read_text()
    return int(re.search(r"LOCATION_EVERY_MS = (\d+)", source).group(1))  # type: ignore[union-attr]


async def wait_for_count(items: list[Any], n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(items) < n:
        assert time.monotonic() < deadline, f"{len(items)} of {n}: {items}"
        await asyncio.sleep(0.05)


@needs_chromium
async def test_the_phone_shares_the_newest_position_at_most_once_an_interval(
    stand_in: tuple[Any, ConsoleSettings, Dispatch],
) -> None:
    browser, settings, dispatch = stand_in
    async with serve(create_app(settings)) as console:
        page = await phone(browser, console, permissions=["geolocation"], geolocation=JINAN)
        await page.clock.install()  # time runs as usual; the test jumps it over the interval
        await page.goto(f"{console}/patrol/")

        # The first fix goes at once, with this installation's device id.
        await wait_for_count(dispatch.locations, 1)
        body, device = dispatch.locations[0]
        assert (body["lat"], body["lon"]) == (JINAN["latitude"], JINAN["longitude"])
        assert abs(datetime.fromisoformat(body["at"]).timestamp() - time.time()) < 60
        assert device and device == await page.evaluate("localStorage.getItem('qzx.patrol.device')")
        status = page.locator("#location[data-state=shared]")
        await status.wait_for()
        assert "位置已共享" in await status.inner_text()

        # Moving within the interval sends nothing; the interval over, the newest fix goes.
        await page.context.set_geolocation({"latitude": 36.66, "longitude": 117.13})
        await page.context.set_geolocation({"latitude": 36.67, "longitude": 117.14})
        await page.wait_for_timeout(1000)
        assert len(dispatch.locations) == 1
        await page.clock.fast_forward(interval_ms())
        await wait_for_count(dispatch.locations, 2)
        assert (dispatch.locations[1][0]["lat"], dispatch.locations[1][0]["lon"]) == (36.67, 117.14)

        # Offline a fix is dropped, not kept for later: back online, only the next one goes.
        await page.context.set_offline(True)
        await page.context.set_geolocation({"latitude": 36.68, "longitude": 117.15})
        await page.clock.fast_forward(interval_ms())
        await page.locator("#location[data-state=offline]").wait_for()
        await page.context.set_offline(False)
        await page.wait_for_timeout(500)
        await page.context.set_geolocation({"latitude": 36.69, "longitude": 117.16})
        await page.clock.fast_forward(interval_ms())
        await wait_for_count(dispatch.locations, 3)
        await page.wait_for_timeout(500)
        assert [(b["lat"], b["lon"]) for b, _ in dispatch.locations[2:]] == [(36.69, 117.16)]

        # Off the roster, dispatch refuses the position: the line says so, in English too.
        dispatch.location_reply = (403, {"error": "not_on_crew", "detail": "not on the current roster"})
        await page.context.set_geolocation({"latitude": 36.7, "longitude": 117.17})
        await page.clock.fast_forward(interval_ms())
        await page.locator("#location[data-state=off_duty]").wait_for()
        await page.click("#lang")
        assert "not on the current roster" in await page.locator("#location").inner_text()
        await page.context.close()


@needs_chromium
async def test_the_page_opens_from_its_shell_with_the_console_gone(
    stand_in: tuple[Any, ConsoleSettings, Dispatch],
) -> None:
    browser, settings, dispatch = stand_in
    async with serve(create_app(settings)) as console:
        page = await phone(browser, console)
        await page.goto(f"{console}/patrol/")
        task = page.locator("article[data-task=T-1]")
        await task.wait_for()
        # Active and in control of this page (it claims the page that registered it).
        await page.wait_for_function("navigator.serviceWorker.controller?.state === 'activated'")

        await page.context.set_offline(True)
        await task.locator("button[data-action=sign]").click()
        await page.locator("#queue").filter(has_text="1").wait_for()
    # The console has stopped: nothing answers on its port any more.
    async with httpx.AsyncClient(timeout=2, trust_env=False) as gone:
        with pytest.raises(httpx.ConnectError):
            await gone.get(f"{console}/patrol/")

    await page.reload()
    await task.wait_for()
    assert await task.get_attribute("data-status") == "signed"  # the queued sign-for, shown on top
    assert "待发送" in await page.locator("#queue").inner_text()
    assert "1" in await page.locator("#queue").inner_text()
    assert await page.locator("#net.offline").count() == 1
    assert dispatch.signed == []  # queued, not sent: the action waits for the network
    await page.context.close()


@needs_chromium
async def test_a_task_card_explains_its_alert_and_shows_its_evidence(
    stand_in: tuple[Any, ConsoleSettings, Dispatch],
) -> None:
    browser, settings, dispatch = stand_in
    async with serve(create_app(settings)) as console:
        page = await phone(browser, console)
        await page.goto(f"{console}/patrol/")
        task = page.locator("article[data-task=T-1]")
        factors = task.locator("ul.factors li")
        await factors.first.wait_for()
        # the strongest first, explained in Chinese from the code and value
        assert await factors.all_inner_texts() == [
            "醉酒驾驶：血液酒精 95 mg/100mL（≥ 80）",
            "夜间（当地 02:10）",
        ]
        thumb = task.locator("a[target=_blank] img.evidence-thumb")
        await thumb.wait_for()
        assert await thumb.get_attribute("src") == f"{dispatch.url}/evidence/E-1-0.png"
        assert await thumb.get_attribute("alt") == "证据图 1 鲁R12345"
        await page.wait_for_function("document.querySelector('img.evidence-thumb').naturalWidth > 0")
        assert await task.locator("img").count() == 1  # the s3:// one is text, not a broken image
        assert await task.locator(".evidence-uri").inner_text() == "s3://evidence/371702/E-1-1.jpg"

        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        await page.click("#lang")  # English without a reload
        assert await factors.all_inner_texts() == ["BAC 95 mg/100mL", "at night (02:10 local)"]
        assert await page.evaluate("document.documentElement.lang") == "en"  # the page says so too
        assert await thumb.get_attribute("alt") == "evidence image 1 鲁R12345"
        await page.context.close()


LOADED = "() => { const img = document.querySelector('article[data-task=T-1] img.evidence-thumb'); return img && img.complete && img.naturalWidth > 0; }"
LOAD_PICTURES = """async (urls) => {
  for (const url of urls) {
    await new Promise((done, failed) => {
      const img = new Image();
      img.onload = done;
      img.onerror = () => failed(new Error(url));
      img.src = url;
    });
  }
}"""


def worker_constant(name: str) -> str:
    found = re.search(rf"const {name} = (\S+?);", (STATIC / "patrol-sw.js").read_text())
    assert found, name
    return found.group(1).strip('"')


@needs_chromium
async def test_the_cards_evidence_picture_shows_offline_from_the_workers_copy(
    stand_in: tuple[Any, ConsoleSettings, Dispatch],
) -> None:
    """Online, the worker keeps the picture the card shows; offline, the card still shows it, as
    re-rendered and after a reload, with nothing asked of the network; the worker keeps only the
    newest EVIDENCE_KEPT pictures."""
    browser, settings, dispatch = stand_in
    async with serve(create_app(settings)) as console:
        page = await phone(browser, console)
        await page.goto(f"{console}/patrol/")
        await page.wait_for_function("navigator.serviceWorker.controller?.state === 'activated'")
        await page.reload()  # every request of the page through the worker from the start
        await page.wait_for_function(LOADED)
        served = len(dispatch.pictures)
        assert dispatch.pictures[-1] == "E-1-0.png"

        await page.context.set_offline(True)
        await page.locator("#net.offline").wait_for()  # the cards drawn again, the picture asked again
        await page.wait_for_function(LOADED)
        await page.reload()
        await page.locator("#net.offline").wait_for()
        await page.wait_for_function(LOADED)
        assert len(dispatch.pictures) == served

        await page.context.set_offline(False)
        kept = int(worker_constant("EVIDENCE_KEPT"))
        more = [f"{dispatch.url}/evidence/more-{i}.png" for i in range(kept + 3)]
        await page.evaluate(LOAD_PICTURES, more)
        copies = await page.evaluate(
            "async (name) => (await (await caches.open(name)).keys()).map((r) => r.url)",
            worker_constant("EVIDENCE"),
        )
        assert set(copies) == set(more[-kept:])  # the card's own picture and the oldest went
        await page.context.close()
