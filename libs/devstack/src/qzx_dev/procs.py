"""Child processes for `make run` and the test stack: they die with the process that started them,
they leave a pid file behind so that a later start can find and stop what a crash left running,
and every stop is bounded (a polite signal, then harder ones, then SIGKILL)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import psutil

PR_SET_PDEATHSIG = 1

# (signal, seconds to wait for an exit after it); SIGKILL follows the last step.
Escalation = Sequence[tuple[int, float]]


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send ``sig`` to the child when this process dies, even
    by SIGKILL. Linux delivers it when the *thread* that forked exits, so it is only set from the
    main thread (elsewhere it would fire when a worker thread ends)."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def write_pidfile(path: Path, pid: int) -> None:
    """``pid`` and its start time: a later reader can tell the process from one that reused the pid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid} {psutil.Process(pid).create_time()!r}\n")


def process_from_pidfile(path: Path) -> psutil.Process | None:
    """The process a pid file names, if it still runs (the same pid *and* start time)."""
    try:
        pid_s, started_s = path.read_text().split()
        proc = psutil.Process(int(pid_s))
        if abs(proc.create_time() - float(started_s)) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (OSError, ValueError, psutil.Error):
        return None


def stop_pid(proc: psutil.Process, steps: Escalation) -> None:
    """Signal ``proc`` through ``steps``, then SIGKILL; returns once it is gone (or a zombie)."""
    for sig, wait_s in (*steps, (signal.SIGKILL, 10.0)):
        try:
            proc.send_signal(sig)
            deadline = time.monotonic() + wait_s
            while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return


def stop_child(proc: subprocess.Popen[bytes], steps: Escalation) -> None:
    """``stop_pid`` for a child of this process (it is reaped, so no zombie keeps its pid)."""
    for sig, wait_s in (*steps, (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait_s)


def wait_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))


def wait_ready(name: str, port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Wait for a child's /readyz on ``port``; fail with its last log lines if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(
                f"{name} exited with code {proc.returncode} while starting; last log lines:\n{tail}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{name} not ready on port {port} after {timeout:.0f}s (log: {log})")
