"""A stream's page of changes as one chunk: each alert's latest state in it, in change-log order."""

from __future__ import annotations

import orjson

from qzx_alerts.alerts.stream import coalesced


def state(alert_id: str, version: int, kind: str = "violation", factors: list[object] | None = None) -> bytes:
    return orjson.dumps({"id": alert_id, "kind": kind, "version": version, "factors": factors or []})


def events(chunk: bytes) -> list[tuple[int, dict[str, object]]]:
    out = []
    for block in chunk.decode().split("\n\n"):
        if block:
            lines = dict(line.split(": ", 1) for line in block.split("\n"))
            assert lines["event"] == "alert"
            out.append((int(lines["id"]), orjson.loads(lines["data"])))
    return out


def test_each_alert_is_sent_in_its_latest_state_in_change_log_order() -> None:
    page = [
        (1, "a", state("a", 1)),
        (2, "b", state("b", 1)),
        (3, "a", state("a", 2)),
        (4, "c", state("c", 1)),
    ]
    sent = events(coalesced(page, commander=True))
    assert [(i, e["id"], e["version"]) for i, e in sent] == [(2, "b", 1), (3, "a", 2), (4, "c", 1)]


def test_a_covert_checkpoint_hit_is_sent_to_commanders_only() -> None:
    covert = state("h", 1, kind="hotlist_hit", factors=[{"name": "hotlist", "value": "covert"}])
    page = [(7, "h", covert), (8, "a", state("a", 1))]
    assert [i for i, _ in events(coalesced(page, commander=True))] == [7, 8]
    assert [i for i, _ in events(coalesced(page, commander=False))] == [8]
    assert coalesced(page[:1], commander=False) == b""
