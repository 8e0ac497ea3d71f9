"""The page language (static/js/i18n.js): every code label renders in Chinese and in English, and
the static markup's bilingual texts split into both halves. Run in node with a stub localStorage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from qzx_console.main import STATIC

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
HAN = re.compile(r"[\u4e00-\u9fff]")
DICTS = (
    "VIOLATIONS",
    "ALERT_STATUS",
    "TASK_STATUS",
    "OUTCOMES",
    "KINDS",
    "FACTOR_NAMES",
    "PRIORITY_LABEL",
    "ROLES",
    "CREDENTIAL_KINDS",
)

SCRIPT = """
globalThis.localStorage = { getItem: () => process.argv[1], setItem() {} };
globalThis.location = { reload() {} };
const i18n = await import(process.argv[2] + "/i18n.js");
const labels = await import(process.argv[2] + "/labels.js");
const dicts = JSON.parse(process.argv[4]);
const out = {};
for (const name of dicts) out[name] = Object.fromEntries(Object.entries(labels[name]).map(([k, v]) => [k, i18n.t(v)]));
const alert = { violations: ["drunk_driving"] };
out.factor = labels.factorText({ name: "severity", value: 95, why: "drunk driving: BAC 95 mg/100mL ≥ 80" }, alert);
out.pairs = JSON.parse(process.argv[3]).map((text) => i18n.t(text));
console.log(JSON.stringify(out));
"""


def _static_texts() -> list[str]:
    return re.findall(r'data-t="([^"]+)"', (STATIC / "index.html").read_text())


def _render(lang: str) -> dict:
    result = subprocess.run(
        [
            "node",
            "--input-type=module",
            "-e",
            SCRIPT,
            lang,
            str(STATIC / "js"),
            json.dumps(_static_texts()),
            json.dumps(DICTS),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_every_code_label_has_a_chinese_and_an_english_half() -> None:
    zh, en = _render("zh"), _render("en")
    for dict_name in DICTS:
        for code, text in zh[dict_name].items():
            assert HAN.search(text), (dict_name, code, text)
            assert not HAN.search(en[dict_name][code]) and en[dict_name][code], (dict_name, code)
    assert zh["VIOLATIONS"]["drunk_driving"] == "酒驾醉驾"
    assert en["VIOLATIONS"]["drunk_driving"] == "Drunk driving"


def test_a_factor_is_explained_from_its_code_and_value_in_both_languages() -> None:
    assert _render("zh")["factor"] == "醉酒驾驶：血液酒精 95 mg/100mL（≥ 80）"
    assert _render("en")["factor"] == "drunk driving: BAC 95 mg/100mL ≥ 80"  # the API's own English


def test_the_static_markup_splits_into_both_languages() -> None:
    texts = _static_texts()
    assert len(texts) > 15
    for text, zh, en in zip(texts, _render("zh")["pairs"], _render("en")["pairs"], strict=True):
        assert HAN.search(zh), text
        assert not HAN.search(en) and re.search("[A-Za-z]", en), text
