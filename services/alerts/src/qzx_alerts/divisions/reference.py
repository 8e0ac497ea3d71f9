"""Official division codes and names of the province, down to township (9 digits) and village (12):
the owners a hazard is assigned to are chosen from these (data/README.md says where they come from).
Loaded once in the lifespan, never at import time."""

from __future__ import annotations

import gzip
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from qzx_common.jurisdiction import LEVEL_LENGTHS

DATA = Path(__file__).parent / "data" / "divisions-37.json.gz"
LEVEL_NAMES = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
SOURCE_FILES = ("provinces", "cities", "areas", "streets", "villages")


@dataclass(frozen=True)
class Division:
    code: str
    name: str

    @property
    def level(self) -> str:
        return LEVEL_NAMES[len(self.code)]


def parent_code(code: str) -> str | None:
    """The code of the level above (a village's township, a township's county, ...)."""
    shorter = [n for n in LEVEL_LENGTHS if n < len(code)]
    return code[: shorter[-1]] if shorter else None


class Divisions:
    def __init__(self, names: dict[str, str]) -> None:
        self._names = names
        self._children: dict[str, list[str]] = defaultdict(list)
        for code in sorted(names):
            if (parent := parent_code(code)) is not None:
                self._children[parent].append(code)

    def __len__(self) -> int:
        return len(self._names)

    def get(self, code: str) -> Division | None:
        name = self._names.get(code)
        return Division(code, name) if name is not None else None

    def children(self, code: str) -> list[Division]:
        return [Division(c, self._names[c]) for c in self._children.get(code, [])]


def load(path: Path = DATA) -> Divisions:
    return Divisions(json.loads(gzip.decompress(path.read_bytes())))


def trim(dist: Path, province: str, out: Path) -> int:
    """Keep one province of the package's dist/*.json as the gzip JSON this module loads."""
    names = {
        row["code"]: row["name"]
        for f in SOURCE_FILES
        for row in json.loads((dist / f"{f}.json").read_text(encoding="utf-8"))
        if row["code"].startswith(province)
    }
    body = json.dumps(names, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    out.write_bytes(gzip.compress(body, 9, mtime=0))
    return len(names)


if __name__ == "__main__":
    print(trim(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])), "codes")
