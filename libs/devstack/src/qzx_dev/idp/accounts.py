"""Who can sign in to the development identity provider: the demo organisation's people.

Officers come from the demo world `qzx dev` seeds (``qzx_dev.demo.world``: one definition of who
is seeded); commanders,
dispatchers and auditors are one per city plus the province's. Every account has the same
development password (``QZX_DEV_PASSWORD``), which `qzx dev` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from qzx_common.contracts.geo import CITIES, PROVINCE_CODE
from qzx_common.web.auth import Role

DEV_PASSWORD = "qzx-dev-password"


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    name: str
    role: Role
    jur: str
    unit_id: str | None = None

    def claims(self) -> dict[str, object]:
        claims: dict[str, object] = {"sub": self.username, "name": self.name, "role": self.role.value}
        claims["jur"] = self.jur
        if self.unit_id:
            claims["unit_id"] = self.unit_id
        return claims


def staff() -> list[Account]:
    """Commanders, dispatchers and auditors: the province's and one of each per city."""
    province = PROVINCE_CODE[:2]  # a token's jur is an admin-code prefix: "37", never "370000"
    people = [
        Account(f"commander-{province}", "省指挥长 province commander", Role.province_commander, province),
        Account(f"auditor-{province}", "省审计员 province auditor", Role.auditor, province),
    ]
    for city in CITIES:
        jur = city.code[:4]
        people += [
            Account(f"commander-{jur}", f"{city.name} city commander", Role.city_commander, jur),
            Account(f"dispatcher-{jur}", f"{city.name} dispatcher", Role.dispatcher, jur),
            Account(f"auditor-{jur}", f"{city.name} auditor", Role.auditor, jur),
        ]
    return people


def officers() -> list[Account]:
    """Every officer of the demo organisation, as a member of the unit they crew."""
    from qzx_dev.demo.world import demo_organisation

    people = []
    for city in demo_organisation():
        unit_of = {m["officer_id"]: m["unit_id"] for m in city.members}
        for o in city.officers:
            role = Role.patrol_officer if o["kind"] == "sworn" else Role.auxiliary_officer
            people.append(Account(o["id"], o["name"], role, o["admin_code"], unit_of.get(o["id"])))
    return people


def all_accounts() -> dict[str, Account]:
    return {a.username: a for a in [*staff(), *officers()]}
