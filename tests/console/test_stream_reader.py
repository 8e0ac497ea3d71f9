"""The page's own SSE reader (static/js/api.js), run by node through the console's proxy."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import pytest

from qzx_console.main import STATIC

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

# api.js asks for relative /api/... URLs, as a page does; node needs them made absolute.
SCRIPT = """
const base = process.argv[1];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => realFetch(new URL(url, base), init);
const { openStream } = await import(process.argv[2]);
const events = [];
const states = [];
let deadline;
const stream = openStream("alerts", "/v1/alerts/resumable", {
  onEvent(type, data, id) {
    events.push({ type, data, id });
    if (events.length === 2) {
      stream.close();
      clearTimeout(deadline);
      console.log(JSON.stringify({ events, states }));
    }
  },
  onState(kind) { states.push(kind); },
});
deadline = setTimeout(() => { console.log(JSON.stringify({ events, states, timeout: true })); process.exit(1); }, 8000);
"""


async def test_the_page_reads_events_and_resumes_after_the_last_id(
    console: str, upstreams: dict[str, Any]
) -> None:
    alerts = upstreams["alerts"]
    alerts.resumed_from.clear()
    node = await asyncio.create_subprocess_exec(
        "node",
        "--input-type=module",
        "-e",
        SCRIPT,
        console,
        (STATIC / "js" / "api.js").as_uri(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(node.communicate(), 15)
    assert node.returncode == 0, (out + err).decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["events"] == [
        {"type": "alert", "data": '{"id": "a"}', "id": "7"},
        {"type": "alert", "data": '{"id": "b",\n "n": 2}', "id": "8"},
    ]
    # A fresh start, then (the stream having ended) a resume after event 7.
    assert alerts.resumed_from == [None, "7"]
    assert result["states"][:3] == ["connecting", "live", "reconnecting"]
