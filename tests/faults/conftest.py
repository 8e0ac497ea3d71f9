"""The fault suite's table: each test adds its rows; printed once at the end of the run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # faults_table, shared with the test module

from faults_table import OUTCOMES, render


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if OUTCOMES:
        terminalreporter.write_sep("=", "faults: outcomes")
        terminalreporter.write_line(render())
