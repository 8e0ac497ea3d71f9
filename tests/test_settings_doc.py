"""docs/settings.md is what `qzx settings-doc` renders from the settings classes: a setting added
without a description, or a default changed without the page, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qzx_dev.settings_doc import CLASSES, DOC, _load, render


def test_the_committed_settings_page_matches_the_classes() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is out of date: run `qzx settings-doc`"
    )


def test_every_field_of_every_class_is_on_the_page() -> None:
    page = DOC.read_text(encoding="utf-8")
    for _, path, _ in CLASSES:
        for name in _load(path).model_fields:
            assert f"`QZX_{name.upper()}`" in page, f"{path}.{name} missing from docs/settings.md"


def test_every_qzx_variable_the_repository_reads_is_on_the_page() -> None:
    """Variables read outside the settings classes too (the command line, tests, compose)."""
    root = Path(__file__).resolve().parents[1]
    files = [root / "Makefile", root / "docker-compose.yml", root / ".ci" / "run"]
    for top in ("libs", "services", "tests", "deploy"):
        files += [
            p for p in (root / top).rglob("*") if p.suffix in (".py", ".yaml", ".yml", ".env", ".example")
        ]
    names = {
        m
        for f in files
        if f.is_file()
        for m in re.findall(r"QZX_[A-Z0-9_]+", f.read_text(errors="ignore"))
        if not m.endswith("_")  # a family written as QZX_TOPIC_*
    }
    page = DOC.read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}`" not in page)
    assert not missing, f"not in docs/settings.md: {missing}"


def test_a_field_without_a_description_is_refused() -> None:
    from pydantic import Field

    from qzx_common.settings import CommonSettings
    from qzx_dev import settings_doc

    class Undocumented(CommonSettings):
        secret_knob: int = Field(default=1)

    with pytest.raises(ValueError, match="secret_knob"):
        settings_doc._rows(Undocumented, CommonSettings)
