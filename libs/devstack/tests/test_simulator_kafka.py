"""The simulator against the real broker: the command line sends what it says, at the rate asked."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import pytest

from qzx_common.contracts.devices import DEVICE_BY_ID
from qzx_common.topics import CAMERA_VIOLATIONS
from qzx_dev.simulator import EventGenerator, main, stream
from qzx_dev.testing import Stack, read_topic

pytestmark = [pytest.mark.kafka]


def test_command_line_sends_count_messages_keyed_by_device(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"{stack.topic_prefix}sim{uuid.uuid4().hex[:6]}."
    argv = ["--bootstrap", stack.bootstrap, "--topic-prefix", prefix, "--count", "600", "--rate", "0"]
    assert main([*argv, "--seed", "4", "--dup-share", "0.1", "--bad-share", "0.1"]) == 0
    records = asyncio.run(read_topic(stack.bootstrap, prefix + CAMERA_VIOLATIONS, want=600, timeout=20))
    assert len(records) == 600
    assert all(r.key.decode() in DEVICE_BY_ID for r in records)
    progress = capsys.readouterr().err
    assert "done 600" in progress and "dups" in progress and "bad" in progress


async def test_stream_holds_the_rate(stack: Stack) -> None:
    prefix = f"{stack.topic_prefix}rate{uuid.uuid4().hex[:6]}."
    out = io.StringIO()
    started = time.monotonic()
    stats = await stream(
        EventGenerator(seed=9),
        bootstrap=stack.bootstrap,
        topic_prefix=prefix,
        rate=400,
        count=400,
        progress=out,
        progress_every=0.2,
    )
    elapsed = time.monotonic() - started
    assert stats.sent == 400
    # The bucket starts with a fifth of a second's worth; the rest must be spread out, not burst.
    assert elapsed >= (400 - 80) / 400 * 0.9
    assert out.getvalue().count("simulate: sent") >= 2  # progress while sending
    records = await read_topic(stack.bootstrap, prefix + CAMERA_VIOLATIONS, want=400, timeout=20)
    assert len(records) == 400
