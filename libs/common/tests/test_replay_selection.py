"""`qzx dlq replay`'s selection: every criterion becomes one SQL condition with its parameter, ids
need exactly one service, and the command line refuses a moment without an offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from qzx_common.replay import Selection, _where
from qzx_common.replay.__main__ import main


def test_no_criterion_selects_everything() -> None:
    assert _where(Selection()) == ("true", [])


def test_each_criterion_is_a_condition_with_its_parameter() -> None:
    since, until = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)
    where, args = _where(
        Selection(
            schemas=("ingest",),
            sources=("camera.violations.v1",),
            since=since,
            until=until,
            reason="^simulated",
            ids=(4, 5),
        )
    )
    assert where == (
        "source = ANY($1::text[]) AND received_at >= $2 AND received_at < $3 AND error ~* $4 "
        "AND id = ANY($5::bigint[])"
    )
    assert args == [["camera.violations.v1"], since, until, "^simulated", [4, 5]]


def test_ids_need_exactly_one_service_and_services_must_exist() -> None:
    with pytest.raises(ValueError, match="one service"):
        Selection(ids=(1,))
    with pytest.raises(ValueError, match="unknown"):
        Selection(schemas=("billing",))


def test_the_command_refuses_ids_without_a_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--id", "3"]) == 2
    assert "one service" in capsys.readouterr().err


def test_the_command_wants_an_offset_on_moments() -> None:
    with pytest.raises(SystemExit):
        main(["--since", "2026-12-02T08:00"])
