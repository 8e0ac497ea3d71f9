"""Hear a stop signal as soon as it arrives.

uvicorn starts the lifespan's shutdown only after open connections have finished (or its graceful
timeout has cancelled them, with ERROR tracebacks), and tells the app nothing before that: a held
long-poll would simply be held until it is cancelled. So the app wraps the SIGINT/SIGTERM handlers
the server installed (never replacing them: the server still drains its connections as before)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

SignalHandler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def on_stop_signal(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block, SIGINT or SIGTERM runs ``callback`` in this event loop and then goes on to
    the handler that was there. A signal with no Python handler (default action) is left alone, and
    so is everything off the main thread, where handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    wrapped: dict[signal.Signals, tuple[SignalHandler, SignalHandler]] = {}
    for sig in STOP_SIGNALS:
        previous = signal.getsignal(sig)
        if callable(previous):
            ours = _chained(loop, callback, previous)
            signal.signal(sig, ours)
            wrapped[sig] = (ours, previous)
    try:
        yield
    finally:
        for sig, (ours, previous) in wrapped.items():
            if signal.getsignal(sig) is ours:  # else someone wrapped ours in turn: theirs calls ours
                signal.signal(sig, previous)


def _chained(
    loop: asyncio.AbstractEventLoop, callback: Callable[[], None], previous: SignalHandler
) -> SignalHandler:
    def handler(sig: int, frame: FrameType | None) -> None:
        # A signal handler may interrupt the loop anywhere: hand the callback to the loop.
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is held any more
            loop.call_soon_threadsafe(callback)
        previous(sig, frame)

    return handler
