"""The organisation: who exists, which unit they crew, which unit is on which shift. Every change
is checked against the caller's jurisdiction and written to the audit log in its transaction.

One module per thing it holds (jurisdictions, officers, units, rosters, and the audit helper);
this module is their public face for the router and the other domains."""

from __future__ import annotations

from qzx_dispatch.org.audit import audit_change, audit_scope
from qzx_dispatch.org.jurisdictions import create_jurisdiction, known_jurisdiction
from qzx_dispatch.org.officers import create_officer, get_officer, officer_out, update_officer
from qzx_dispatch.org.rosters import (
    MAX_SHIFT,
    add_roster,
    create_roster,
    delete_roster,
    lock_unit,
    roster_out,
)
from qzx_dispatch.org.units import create_unit, get_unit, unit_out, update_unit

__all__ = [
    "MAX_SHIFT",
    "add_roster",
    "audit_change",
    "audit_scope",
    "create_jurisdiction",
    "create_officer",
    "create_roster",
    "create_unit",
    "delete_roster",
    "get_officer",
    "get_unit",
    "known_jurisdiction",
    "lock_unit",
    "officer_out",
    "roster_out",
    "unit_out",
    "update_officer",
    "update_unit",
]
