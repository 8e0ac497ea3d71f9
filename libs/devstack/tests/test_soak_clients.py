"""The soak's SSE reader: it counts every alert event, keeps the last event id, and times only the
first sight of an alert (on the one stream that reads the events)."""

from __future__ import annotations

import time

import orjson

from qzx_dev.soak.clients import CAMERA_TO_CONSOLE, SentTimes, _read_blocks
from qzx_dev.soak.stats import Window


def block(change_id: int, alert: dict[str, object]) -> bytes:
    return b"id: %d\nevent: alert\ndata: %s" % (change_id, orjson.dumps(alert))


def test_alert_events_are_counted_and_the_last_id_kept() -> None:
    w, sent = Window(), SentTimes()
    blocks = [b"retry: 1000", block(7, {"status": "new", "count": 2}), b": keep-alive", block(9, {})]
    assert _read_blocks(blocks, w, sent, timed=False) == "9"
    assert w.sse_events == 2 and not w.latencies
    assert _read_blocks([b": keep-alive"], w, sent, timed=False) is None


def test_the_timed_stream_times_an_alerts_first_sight_only() -> None:
    w, sent = Window(), SentTimes()
    sent.record("E-1", time.time() - 0.25)
    sent.record("E-2", time.time())
    first = block(1, {"status": "new", "count": 1, "event_ids": ["E-1"]})
    later = block(2, {"status": "new", "count": 2, "event_ids": ["E-2"]})
    assert _read_blocks([first, later], w, sent, timed=True) == "2"
    [age] = w.latencies[CAMERA_TO_CONSOLE]
    assert 0.2 < age < 5


async def test_an_officer_signs_at_once_gives_feedback_later_and_counts_a_moved_task() -> None:
    """Also when the server has closed the officer's idle connection meanwhile (its keep-alive
    timeout): the feedback goes again on a new one, under the same idempotency key."""
    import asyncio

    from qzx_dev.bench.dispatch_longpoll import PatrolConnection
    from qzx_dev.soak.clients import Officer

    seen: list[tuple[str, str, bytes]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n"):
            lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            body = await reader.readexactly(int(headers.get("Content-Length", 0)))
            path = lines[0].split()[1]
            seen.append((path, headers["Idempotency-Key"], body))
            status = b"409 Conflict" if "T-moved" in path else b"200 OK"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
            if path.endswith("/sign"):  # then idle, the server drops the connection (keep-alive timeout)
                await writer.drain()
                writer.close()
                return

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    holder, stop = [Window()], asyncio.Event()
    officer = Officer(PatrolConnection(port, "tok"), handle_s=0.2, holder=holder, stop=stop)
    officer.take("T-1")
    officer.take("T-moved")
    await asyncio.sleep(0.1)
    assert [p for p, _, _ in seen] == ["/v1/patrol/tasks/T-1/sign", "/v1/patrol/tasks/T-moved/sign"]
    await asyncio.gather(*officer.working)
    officer.conn.close()
    server.close()

    assert seen[-1] == ("/v1/patrol/tasks/T-1/feedback", "T-1-feedback", b'{"outcome":"warned"}')
    assert (holder[0].actions, holder[0].conflicts, holder[0].client_errors) == (2, 1, 0)
