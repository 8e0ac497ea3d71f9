"""A TCP fault proxy for tests: 127.0.0.1:<port> → 127.0.0.1:<target>, with the faults a network
gives a service: added latency, dropped traffic (a partition: connections stay open, nothing
passes) and every connection cut at once. Loopback only; bounded in connections and in what it
holds per connection (a full buffer stops reading: TCP's own backpressure)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass, field

CHUNK = 64 * 1024
QUEUED_CHUNKS = 64  # per direction of a connection: at most 4 MiB held


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            w.transport.abort()  # RST, as when a link or a middlebox drops the connection
        for t in self.tasks:
            t.cancel()


class FaultProxy:
    def __init__(
        self, target_port: int, *, target_host: str = "127.0.0.1", port: int = 0, max_connections: int = 200
    ) -> None:
        if not _loopback(target_host):
            raise ValueError(f"the fault proxy forwards to loopback only, not {target_host}")
        self.target = (target_host, target_port)
        self.requested_port = port
        self.max_connections = max_connections
        self.latency_s = 0.0
        self.dropping = False
        self.connections: set[_Connection] = set()
        self.accepted = 0
        self.refused = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.requested_port)
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- faults -------------------------------------------------------------------------------

    def pass_through(self) -> None:
        self.latency_s, self.dropping = 0.0, False

    def slow(self, latency_s: float) -> None:
        """Every chunk, each way, arrives ``latency_s`` later (order kept)."""
        self.latency_s = latency_s

    def drop(self) -> None:
        """Discard all traffic, both ways, on open and new connections; nothing is closed."""
        self.dropping = True

    def cut(self) -> int:
        """Reset every open connection (new ones pass as set); returns how many were cut."""
        cut = list(self.connections)
        for c in cut:
            c.abort()
        self.connections.clear()
        return len(cut)

    # --- plumbing -----------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.max_connections:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()  # the target is down: the client sees a reset, as it would
            return
        self.accepted += 1
        conn = _Connection(writer, up_writer)
        self.connections.add(conn)
        conn.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        conn.abort()
        self.connections.discard(conn)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUED_CHUNKS)

        async def read() -> None:
            with contextlib.suppress(ConnectionError):
                while data := await reader.read(CHUNK):
                    if not self.dropping:
                        await queue.put((loop.time() + self.latency_s, data))
            await queue.put(None)

        reading = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not self.dropping:
                    writer.write(data)
                    await writer.drain()
        finally:
            reading.cancel()
            writer.transport.abort()
