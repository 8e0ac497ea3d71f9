"""The assessment formula's arithmetic (docs/assessment.md), without a database."""

from __future__ import annotations

from qzx_alerts.reports.assessment import PARTS, assess, decline, rank
from qzx_alerts.reports.league import declined, figures_row


def test_weights_make_one_hundred() -> None:
    assert sum(p.weight for p in PARTS) == 100
    assert sum(p.weight for p in PARTS if p.group == "safety") == 60


def test_decline_part() -> None:
    assert decline(0, 0) == 1.0 and decline(0, 5) == 1.0  # none this period
    assert decline(10, 10) == 0.5  # unchanged: half
    assert decline(5, 10) == 1.0 and decline(8, 10) == 0.7  # a fall of half earns all
    assert decline(15, 10) == 0.0 and decline(12, 10) == 0.3
    assert decline(1, 0) == 0.0  # from none to one: a rise of 100 %


def test_three_declines_hold_at_zero() -> None:
    assert declined(0, 0) and declined(1, 2) and not declined(2, 2) and not declined(3, 2)


def test_a_full_row() -> None:
    row = figures_row(
        "3715",
        {"accidents": 8, "injured": 4, "killed": 1, "major": 0},
        {"accidents": 10, "injured": 4, "killed": 2, "major": 0},
        {"raised": 10, "dispatched": 8, "signed": 6, "feedback": 4, "handled": 5},
        {"found": 2, "rectified": 3, "open": 1, "overdue": 1},
    )
    assert row["name"] == "Liaocheng" and row["three_declines"] is False  # injured held level
    points = row["assessment"]["points"]
    # 15 × 0.7, 15 × 0.5, 20 × 1.0 (1 of 2: a fall of half), 10
    assert (points["accidents_decline"], points["injured_decline"], points["killed_decline"]) == (
        10.5,
        7.5,
        20.0,
    )
    # 15 × 0.5, 5 × 0.75, 5 × 0.5, 10 × 3/4, 5 × (1 - 1/1)
    assert (points["road_management_rate"], points["sign_for_rate"], points["feedback_rate"]) == (
        7.5,
        3.75,
        2.5,
    )
    assert (points["hazard_rectification"], points["hazards_on_time"]) == (7.5, 0.0)
    assert row["assessment"]["score"] == 69.2 and row["assessment"]["safety"] == 48.0


def test_rank_shares_places_on_equal_scores() -> None:
    rows = [
        {"code": c, "assessment": assess_score}
        for c, assess_score in (
            ("3702", {"score": 70.0}),
            ("3701", {"score": 80.0}),
            ("3703", {"score": 70.0}),
            ("3704", {"score": 50.0}),
        )
    ]
    assert [(r["code"], r["rank"]) for r in rank(rows)] == [
        ("3701", 1),
        ("3702", 2),
        ("3703", 2),
        ("3704", 4),
    ]


def test_assess_is_deterministic() -> None:
    empty = figures_row("3716", {}, {}, {}, {"found": 0})
    assert assess(empty) == empty["assessment"] and empty["assessment"]["score"] == 80.0
