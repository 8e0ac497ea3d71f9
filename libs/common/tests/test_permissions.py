from __future__ import annotations

from pathlib import Path

from qzx_common.web.auth import Principal, Role
from qzx_common.web.permissions import MATRIX, PROVINCE_WIDE, Action, allowed, markdown_table, permitted

DOC = Path(__file__).resolve().parents[3] / "docs" / "permissions.md"


def test_the_documented_table_is_the_matrix() -> None:
    text = DOC.read_text()
    documented = text.split("<!-- matrix:start -->\n", 1)[1].split("<!-- matrix:end -->", 1)[0]
    assert documented == markdown_table(), "regenerate with: uv run python -m qzx_common.web.permissions"


def test_deny_by_default() -> None:
    assert not any(allowed(role, "unknown:action") for role in Role)  # type: ignore[arg-type]
    assert set(MATRIX) == set(Action), "every action has an explicit row"


def test_the_rules_the_issue_names() -> None:
    # Patrol roles act in the field only; auditors read and never change; no one else patrols.
    for action in Action:
        if action is Action.patrol_act:
            assert MATRIX[action] == {Role.patrol_officer, Role.auxiliary_officer}
        else:
            assert Role.auxiliary_officer not in MATRIX[action]
        if not action.value.endswith(":read"):
            assert Role.auditor not in MATRIX[action]
    assert MATRIX[Action.audit_read] == {Role.province_commander, Role.auditor}


def test_province_wide_actions_need_a_province_jurisdiction() -> None:
    assert PROVINCE_WIDE
    for action in PROVINCE_WIDE:
        assert permitted(Principal("a", Role.auditor, "37"), action)
        assert not permitted(Principal("a", Role.auditor, "3702"), action)
