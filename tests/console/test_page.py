"""The console's own routes: the page and its modules, the city table, the dev token, health."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from qzx_console.main import STATIC
from qzx_dev.embedded import free_port

# docs/design.md §1: the province's 16 cities (GB/T 2260 code, approximate centre).
DESIGN_CITIES = """
370100 Jinan 36.65,117.12 · 370200 Qingdao 36.07,120.38 · 370300 Zibo 36.81,118.05 ·
370400 Zaozhuang 34.81,117.32 · 370500 Dongying 37.43,118.67 · 370600 Yantai 37.46,121.45 ·
370700 Weifang 36.71,119.16 · 370800 Jining 35.41,116.59 · 370900 Tai'an 36.20,117.09 ·
371000 Weihai 37.51,122.12 · 371100 Rizhao 35.42,119.53 · 371300 Linyi 35.10,118.36 ·
371400 Dezhou 37.44,116.36 · 371500 Liaocheng 36.46,115.99 · 371600 Binzhou 37.38,117.97 ·
371700 Heze 35.23,115.48
"""
IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+"(\./[\w.-]+\.js)";""", re.MULTILINE | re.DOTALL)


async def test_the_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<script type="module" src="/static/js/main.js"></script>' in page
    assert 'href="/static/console.css"' in page
    for panel in ("alert-list", "map", "detail", "units", "tasks", "violations", "dlq", "sign-out"):
        assert f'id="{panel}"' in page
    assert "http://" not in page and "https://" not in page  # no CDN: the machine may have no internet


async def test_every_module_the_page_imports_is_served(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    seen: set[str] = set()
    pending = ["main.js", "sign-in.js", "patrol.js"]  # the pages' entry modules
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        response = await client.get(f"/static/js/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response.headers["content-type"], name
        pending += [target.removeprefix("./") for target in IMPORT.findall(response.text)]
    shipped = {p.name for p in (STATIC / "js").glob("*.js")}
    assert seen == shipped  # every shipped module is reachable from an entry, and none is missing
    assert (await client.get("/static/js/nope.js")).status_code == 404


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_every_module_parses() -> None:
    for path in sorted((STATIC / "js").glob("*.js")):
        result = subprocess.run(
            ["node", "--experimental-default-type=module", "--check", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{path.name}: {result.stderr}"


async def test_the_cities_are_the_contract_table(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/geo/cities")
    assert response.status_code == 200
    body = response.json()
    expected = {
        code: (name, float(lat), float(lon))
        for code, name, lat, lon in re.findall(r"(\d{6}) ([\w']+) ([\d.]+),([\d.]+)", DESIGN_CITIES)
    }
    assert len(expected) == 16
    assert {c["code"]: (c["name"], c["lat"], c["lon"]) for c in body["items"]} == expected
    names_zh = [c["name_zh"] for c in body["items"]]
    assert len(set(names_zh)) == 16 and all(re.fullmatch(r"[\u4e00-\u9fff]{2}", n) for n in names_zh)
    assert next(c["name_zh"] for c in body["items"] if c["code"] == "370100") == "济南"
    b = body["bounds"]
    assert all(
        b["lat_min"] < c["lat"] < b["lat_max"] and b["lon_min"] < c["lon"] < b["lon_max"]
        for c in body["items"]
    )
    assert body["province"]["code"] == "370000"


async def test_the_dev_token_is_served_when_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/dev-token")
    assert response.status_code == 200
    assert response.json() == {"token": "header.payload.signature-of-the-dev-console"}
    assert response.headers["cache-control"] == "no-store"


async def test_health(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await client.get(path)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_the_module_runs_as_the_launcher_starts_it() -> None:
    """`python -m qzx_console` on QZX_CONSOLE_PORT; without QZX_CONSOLE_TOKEN (set by `qzx dev`
    only) there is no dev-token route."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "QZX_CONSOLE_TOKEN"}
    env["QZX_CONSOLE_PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qzx_console"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}", proc)
        assert ready.status_code == 200
        token = httpx.get(f"http://127.0.0.1:{port}/api/dev-token", timeout=5)
        assert token.status_code == 404
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"console exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            return httpx.get(f"{base}/readyz", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"console not ready on {base}")


async def test_the_patrol_page_and_the_permission_matrix_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/patrol/")
    assert page.status_code == 200 and '<script type="module" src="/static/js/patrol.js">' in page.text
    assert 'name="viewport"' in page.text  # phone-sized
    matrix = (await client.get("/api/permissions")).json()
    assert matrix["tasks:reassign"] == ["city_commander", "dispatcher", "province_commander"]
    assert "auditor" not in matrix["alerts:dismiss"] and matrix["patrol:act"] == [
        "auxiliary_officer",
        "patrol_officer",
    ]
