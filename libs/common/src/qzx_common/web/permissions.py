"""Deny by default: the one role × action matrix for every service.

Routers declare what they do with ``require(Action.X)``; an action missing from ``MATRIX`` is
allowed to no one. ``docs/permissions.md`` is this matrix as a table (a test keeps them equal;
``python -m qzx_common.web.permissions`` prints it). Jurisdiction scoping (the token's ``jur``
against the resource's admin code) is checked in addition, by the services, on every read and
write; actions in ``PROVINCE_WIDE`` touch data without a trustworthy admin code and need a token
whose ``jur`` covers the whole province. The exchange (``/v1/exchange/*``) is not in the matrix:
partners authenticate by HMAC signature and are limited to their ``admin_prefix``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from fastapi import Depends

from qzx_common.web.auth import CurrentPrincipal, Principal, Role
from qzx_common.web.errors import Forbidden


class Action(StrEnum):
    violations_read = "violations:read"
    dlq_read = "dlq:read"
    alerts_read = "alerts:read"
    alerts_dismiss = "alerts:dismiss"
    hotlists_read = "hotlists:read"
    hotlists_write = "hotlists:write"
    hazards_read = "hazards:read"
    hazards_write = "hazards:write"
    reports_read = "reports:read"
    org_read = "org:read"
    org_write = "org:write"
    shifts_plan = "shifts:plan"
    tasks_read = "tasks:read"
    tasks_reassign = "tasks:reassign"
    patrol_act = "patrol:act"
    audit_read = "audit:read"
    supervision_read = "supervision:read"
    mutual_aid_accept = "mutual_aid:accept"
    passages_read = "passages:read"
    accidents_read = "accidents:read"
    accidents_report = "accidents:report"


_P, _C, _D, _PO, _AX, _AU = (
    Role.province_commander,
    Role.city_commander,
    Role.dispatcher,
    Role.patrol_officer,
    Role.auxiliary_officer,
    Role.auditor,
)

MATRIX: dict[Action, frozenset[Role]] = {
    Action.violations_read: frozenset({_P, _C, _D, _AU, _PO}),
    Action.dlq_read: frozenset({_P, _C, _D, _AU}),
    Action.alerts_read: frozenset({_P, _C, _D, _AU}),
    Action.alerts_dismiss: frozenset({_P, _C, _D}),
    Action.hotlists_read: frozenset({_P, _C, _D, _AU}),
    Action.hotlists_write: frozenset({_P, _C}),
    Action.hazards_read: frozenset({_P, _C, _D, _AU}),
    Action.hazards_write: frozenset({_P, _C}),
    Action.reports_read: frozenset({_P, _C, _D, _AU}),
    Action.org_read: frozenset({_P, _C, _D, _AU}),
    Action.org_write: frozenset({_P, _C}),
    Action.shifts_plan: frozenset({_P, _C, _D}),
    Action.tasks_read: frozenset({_P, _C, _D, _AU}),
    Action.tasks_reassign: frozenset({_P, _C, _D}),
    Action.patrol_act: frozenset({_PO, _AX}),
    Action.audit_read: frozenset({_P, _AU}),
    # Shared-credential signs of patrol officers: the auditors and the commanders who supervise them.
    Action.supervision_read: frozenset({_P, _C, _AU}),
    # Lending a unit to a neighbouring city is its own city's commanders' decision.
    Action.mutual_aid_accept: frozenset({_P, _C}),
    # Every vehicle's movements: the command roles, not patrol (a covert target's trail stays off phones).
    Action.passages_read: frozenset({_P, _C, _D, _AU}),
    Action.accidents_read: frozenset({_P, _C, _D, _AU, _PO}),
    # The 122 call centre sits with the dispatchers; officers on scene report through the patrol app.
    Action.accidents_report: frozenset({_P, _C, _D, _PO}),
}


# Dead letters are raw bytes that failed validation: their admin code cannot be trusted.
PROVINCE_WIDE: frozenset[Action] = frozenset({Action.dlq_read})


def allowed(role: Role, action: Action) -> bool:
    return role in MATRIX.get(action, frozenset())


def permitted(principal: Principal, action: Action) -> bool:
    """Role and, for province-wide actions, jurisdiction: the whole check ``require`` makes."""
    return allowed(principal.role, action) and (action not in PROVINCE_WIDE or principal.covers_province)


def require(action: Action) -> Callable[[Principal], Awaitable[Principal]]:
    """Dependency: the caller's principal, if its role may perform ``action``; else 403."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not allowed(principal.role, action):
            raise Forbidden(f"role {principal.role.value} may not {action.value}", code="role_forbidden")
        if action in PROVINCE_WIDE and not principal.covers_province:
            raise Forbidden(
                f"{action.value} needs a province-wide jurisdiction, not {principal.jur}",
                code="province_scope_required",
            )
        return principal

    check.action = action  # type: ignore[attr-defined]  # lets tests map every route to its action
    return Depends(check)


def required_action(dependency: object) -> Action | None:
    """The action a ``require(...)`` dependency callable checks (None for other callables)."""
    return getattr(dependency, "action", None)


def markdown_table() -> str:
    """The matrix as the Markdown table in docs/permissions.md."""
    roles = list(Role)
    lines = [
        "| action | " + " | ".join(r.value for r in roles) + " |",
        "| --- |" + " :---: |" * len(roles),
    ]
    for action in Action:
        marks = ["✔" if allowed(r, action) else "–" for r in roles]
        suffix = " (province-wide `jur` only)" if action in PROVINCE_WIDE else ""
        lines.append(f"| `{action.value}`{suffix} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
