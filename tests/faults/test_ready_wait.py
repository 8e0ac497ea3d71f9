"""A fault test that waits in vain for a service says why: its failure carries the service's last
/readyz answer, status and body (which check failed), not only the log's tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from qzx_dev.faults.services import ServiceProcess

# A process that answers /readyz as a service whose consumer has stalled does, on the port given.
FAKE = """
import http.server, os

class Readyz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"not_ready","checks":{"database":"ok","consumer":"stalled for 12s"}}'
        self.send_response(503)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

port = next(v for k, v in os.environ.items() if k.endswith("_PORT"))  # the one ServiceProcess sets
http.server.HTTPServer(("127.0.0.1", int(port)), Readyz).serve_forever()
"""


async def test_a_ready_wait_that_times_out_reports_the_last_readyz_answer(tmp_path: Path) -> None:
    (tmp_path / "qzx_fake").mkdir()
    (tmp_path / "qzx_fake" / "__main__.py").write_text(FAKE)
    service = ServiceProcess("fake", {"PYTHONPATH": str(tmp_path)}, tmp_path / "fake.log")
    service.start()
    try:
        with pytest.raises(AssertionError) as failure:
            await service.wait_ready(timeout=4)
    finally:
        service.stop()
    message = str(failure.value)
    assert "fake not ready within 4s; its last /readyz: 503 " in message, message
    assert '"consumer":"stalled for 12s"' in message, message


async def test_a_ready_wait_with_nothing_listening_says_so(tmp_path: Path) -> None:
    (tmp_path / "qzx_fake").mkdir()
    (tmp_path / "qzx_fake" / "__main__.py").write_text("import time\ntime.sleep(30)\n")
    service = ServiceProcess("fake", {"PYTHONPATH": str(tmp_path)}, tmp_path / "fake.log")
    service.start()
    try:
        with pytest.raises(AssertionError, match=r"its last /readyz: no answer \(ConnectError"):
            await service.wait_ready(timeout=1.5)
    finally:
        service.stop()
