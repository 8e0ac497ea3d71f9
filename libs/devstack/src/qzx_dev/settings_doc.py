"""`qzx settings-doc [--check]`: docs/settings.md, generated from the settings classes.

Every ``QZX_*`` variable is a field of a pydantic-settings class (its default and its
``Field(description=...)``); this renders one table per class, a service's showing only what it
adds to or changes in the common settings. ``--check`` exits 1 when the committed file differs
(``tests/test_settings_doc.py`` does the same), so a new setting cannot go undocumented."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

DOC = Path(__file__).resolve().parents[4] / "docs" / "settings.md"

# (heading, "module:class", what it is for); services are imported by name: the dev tools run
# them but do not depend on them.
CLASSES = (
    (
        "Every service",
        "qzx_common.settings:CommonSettings",
        "Read by ingest, alerts and dispatch, `qzx migrate`, `qzx reconcile` and `qzx dlq replay`",
    ),
    ("ingest", "qzx_ingest.settings:IngestSettings", "What it adds to or changes in the common settings"),
    ("alerts", "qzx_alerts.settings:AlertsSettings", "What it adds to or changes in the common settings"),
    (
        "dispatch",
        "qzx_dispatch.settings:DispatchSettings",
        "What it adds to or changes in the common settings",
    ),
    (
        "Console",
        "qzx_console.settings:ConsoleSettings",
        "The console and the patrol app (`python -m qzx_console`)",
    ),
    (
        "Development identity provider",
        "qzx_dev.idp.app:IdpSettings",
        "The accounts people sign in with under `qzx dev` (`python -m qzx_dev.idp`)",
    ),
    ("`make run`", "qzx_dev.launcher:LaunchSettings", "Where `qzx dev` starts things"),
)

# Read by the `qzx` command line itself (flags' defaults), not by a settings class.
COMMAND_LINE = (
    ("QZX_STATE_DIR", ".state", "`qzx dev`: folder for local state (the embedded database, logs)."),
    ("QZX_SIMULATE", "1", "`qzx dev`: `0` leaves the camera simulator off."),
    ("QZX_SIMULATE_RATE", "20", "`qzx dev`: simulator events per second."),
    (
        "QZX_DEMO_DATA",
        "1",
        "`qzx dev` and `docker-compose.yml`: `0` leaves out the demo world (`python -m qzx_dev.demo` seeds it through the APIs).",
    ),
)

# Read by the test suite and the compose file.
TESTS_AND_BUILD = (
    ("QZX_FAULTS_FULL", "unset", "`1`: the fault tests' long version (`make test-faults` sets it)."),
    (
        "QZX_HYPOTHESIS",
        "repeatable",
        "`fuzz`: property tests draw fresh examples (`make fuzz`); else fixed ones.",
    ),
    ("QZX_FUZZ_MESSAGES", "600", "the topic fuzz test's message count (`make fuzz` runs 100,000)."),
    ("QZX_FUZZ_SEED", "1717", "the topic fuzz test's seed (`make fuzz` draws a fresh one and prints it)."),
    (
        "QZX_SCREENSHOT_DIR",
        "unset",
        "the browser test writes its screenshots here (`docs` refreshes the README's); else into a temporary directory.",
    ),
    ("QZX_IMAGE_TAG", "dev", "`docker-compose.yml`: the tag of the `qzx` image every service runs."),
)

HEADER = """# Settings

Every setting is an environment variable with the `QZX_` prefix, read by pydantic-settings when a
process starts (nothing is read at import time). This page is generated from the settings classes
by `qzx settings-doc`; `tests/test_settings_doc.py` fails when it is out of date, so edit the
classes' `Field(description=...)` and run the command again."""


def _load(path: str) -> type[BaseSettings]:
    module, name = path.split(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def _default(info: FieldInfo) -> str:
    value: Any = info.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`" if value != "" else "empty"


def _rows(cls: type[BaseSettings], base: type[BaseSettings] | None) -> list[str]:
    inherited = base.model_fields if base is not None else {}
    rows = []
    for name, info in cls.model_fields.items():
        same = inherited.get(name)
        if same is not None and (same.default, same.description) == (info.default, info.description):
            continue
        if not info.description:
            raise ValueError(f"{cls.__name__}.{name} has no Field(description=...)")
        meaning = info.description.replace("|", "\\|")
        rows.append(f"| `QZX_{name.upper()}` | {_default(info)} | {meaning} |")
    return rows


def render() -> str:
    common = _load(CLASSES[0][1])
    parts = [HEADER]
    for heading, path, what in CLASSES:
        cls = _load(path)
        base = common if cls is not common and issubclass(cls, common) else None
        parts.append(f"\n## {heading}\n\n{what} (`{path.replace(':', '.')}`).\n")
        parts.append("| variable | default | meaning |\n| --- | --- | --- |")
        parts.extend(_rows(cls, base))
    parts.append(
        "\n## The `qzx` command line\n\nDefaults of `qzx dev`'s flags (`libs/devstack/src/qzx_dev/cli.py`).\n"
    )
    parts.append("| variable | default | meaning |\n| --- | --- | --- |")
    parts.extend(f"| `{name}` | `{default}` | {meaning} |" for name, default, meaning in COMMAND_LINE)
    parts.append("\n## Tests and compose\n")
    parts.append("| variable | default | meaning |\n| --- | --- | --- |")
    parts.extend(f"| `{name}` | `{default}` | {meaning} |" for name, default, meaning in TESTS_AND_BUILD)
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qzx settings-doc", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/settings.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run `qzx settings-doc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0
