"""A camera at a steady rate: simulator messages sent to the camera topic, each acknowledged one
counted; a send the broker does not acknowledge is sent again (at least once, as a camera
gateway does), so a broker fault costs time, never events."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from qzx_dev.simulator import EventGenerator, SimMessage


@dataclass
class SteadyLoad:
    bootstrap: str
    topic: str
    rate: float  # messages per second
    seed: int = 17
    sent: list[SimMessage] = field(default_factory=list)  # acknowledged, in order
    resent: int = 0
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _run(self) -> None:
        gen = EventGenerator(seed=self.seed, dup_share=0.03, bad_share=0.02)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5, request_timeout_ms=10_000)
        await producer.start()
        try:
            started = time.monotonic()
            while not self._stop.is_set():
                due = int((time.monotonic() - started) * self.rate) - len(self.sent)
                for m in gen.batch(min(max(due, 0), 200)):
                    await self._send(producer, m)
                await asyncio.sleep(0.05)
        finally:
            await producer.stop()

    async def _send(self, producer: AIOKafkaProducer, m: SimMessage) -> None:
        while True:
            try:
                await producer.send_and_wait(self.topic, m.value, key=m.key)
                self.sent.append(m)
                return
            except Exception:  # the broker away or unreachable: the same message again
                self.resent += 1
                await asyncio.sleep(0.2)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="steady-load")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=60)
