"""A service's start-up does not load the heavy scientific libraries: scikit-learn, SciPy and
matplotlib cost seconds of CPU at import, which every process restarted after a crash would pay
before it is ready. The modules that use them import them when they first compute."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy", "matplotlib")

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[2:]))))
"""


def heavy_modules_after_import(module: str) -> list[str]:
    """The heavy top-level packages in sys.modules of a fresh interpreter that imported ``module``."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module, *HEAVY], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("module", ["qzx_ingest.main", "qzx_alerts.main", "qzx_dispatch.main"])
def test_importing_a_service_app_loads_no_heavy_library(module: str) -> None:
    assert heavy_modules_after_import(module) == []


def test_the_probe_sees_a_heavy_library_that_is_imported() -> None:
    """The modules that compute with them do load them: the probe can tell."""
    assert heavy_modules_after_import("scipy.optimize") == ["scipy"]
