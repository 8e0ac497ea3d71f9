"""Adds ``name_en`` to every district of the vendored boundaries (static/vendor/
shandong-boundaries.geojson): Hanyu Pinyin of the name without its suffix (pypinyin, with the
readings it gets wrong for place names fixed below), then District, County or nothing for a
county-level city. Run once when the boundaries are rebuilt; the page never needs it at run time:

    ./scripts/uv.sh run --with pypinyin python apps/console/tools/english_district_names.py
"""

from __future__ import annotations

import json
from pathlib import Path

from pypinyin import lazy_pinyin  # type: ignore[import-not-found]

GEOJSON = Path(__file__).resolve().parents[1] / "src/qzx_console/static/vendor/shandong-boundaries.geojson"
# Place-name readings (地名读音) that differ from a character's common one.
READINGS = {
    "长清": "Changqing",
    "莘": "Shen",
    "东阿": "Dong'e",
    "单": "Shan",
    "乐陵": "Laoling",
    "曲阜": "Qufu",
    "台儿庄": "Tai'erzhuang",
    "峄城": "Yicheng",
    "兖州": "Yanzhou",
    "临朐": "Linqu",
    "芝罘": "Zhifu",
    "牟平": "Muping",
    "茌平": "Chiping",
    "鄄城": "Juancheng",
    "郓城": "Yuncheng",
    "即墨": "Jimo",
    "莒": "Ju",
    "莒南": "Junan",
    "郯城": "Tancheng",
    "冠": "Guan",
    "长岛": "Changdao",
    "无棣": "Wudi",
    "沾化": "Zhanhua",
    "薛城": "Xuecheng",
    "汶上": "Wenshang",
    "泗水": "Sishui",
}
SUFFIXES = {"区": " District", "县": " County", "市": ""}


def romanise(stem: str) -> str:
    if stem in READINGS:
        return READINGS[stem]
    syllables = lazy_pinyin(stem)
    word = syllables[0]
    for s in syllables[1:]:
        word += ("'" if s[0] in "aoe" else "") + s  # 西安 Xi'an, not Xian
    return word.capitalize()


def english(name_zh: str) -> str:
    suffix = SUFFIXES.get(name_zh[-1])
    return romanise(name_zh[:-1]) + suffix if suffix is not None else romanise(name_zh)


def main() -> None:
    geo = json.loads(GEOJSON.read_text(encoding="utf-8"))
    for feature in geo["features"]:
        props = feature["properties"]
        if props["level"] == "district":
            props["name_en"] = english(props["name_zh"])
    GEOJSON.write_text(json.dumps(geo, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


if __name__ == "__main__":
    main()
