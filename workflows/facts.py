"""Facts the guards read from the database, looked up before an act is fired."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.access import Actor, Role, covers
from engine.calendar import local_date
from engine.secrets import valid_id_number
from engine.store import Case, RoleGrant, User
from workflows.base import household_hashes
from workflows.fund import fund_account, lock_fund
from workflows.guards import birth_date, members
from workflows.models import (
    EmergencyGrant,
)

if TYPE_CHECKING:
    from workflows.env import Env


_MAX_INVESTIGATORS = 20
_INVESTIGATOR_ROLES = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER)


def investigators_of(session: Session, case: Case, names: Sequence[str]) -> dict[str, str | None]:
    """Of `names`, the active officials whose grant reaches the case's village, with their identity hash;
    a name missing here is no one who may sign the house visit."""
    if not names:
        return {}
    rows = session.exec(
        select(User.username, User.id_number_hash, RoleGrant.region_code)
        .join(RoleGrant, col(RoleGrant.user_id) == col(User.id))
        .where(
            col(User.username).in_(list(names)),
            col(User.active).is_(True),
            col(RoleGrant.role).in_([str(r) for r in _INVESTIGATOR_ROLES]),
        )
    ).all()
    return {str(name): hashed for name, hashed, region in rows if covers(str(region), case.region_code)}


def _submitted_on(case: Case) -> date:
    """The local day the application was submitted (its creation, for a case submitted before this was kept)."""
    stamped = (case.data.get("submitted") or {}).get("at")
    at = datetime.fromisoformat(stamped) if isinstance(stamped, str) else case.created_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return local_date(at)


def facts_for(
    session: Session, env: Env, case: Case, action: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """What the guards of `action` need from the database, looked up before firing."""
    facts: dict[str, Any] = {"rules": env.rules(case.region_code, now)}
    if action in ("submit", "village_pass", "approve"):
        numbers = {
            str(m.get("id_hash")): env.cipher.decrypt(str(m["id_enc"])) for m in members(case.data) if m.get("id_enc")
        }
        facts["invalid_ids"] = [
            str(m.get("name", ""))
            for m in members(case.data)
            if not m.get("id_enc") or not valid_id_number(numbers[str(m.get("id_hash"))])
        ]
        # T2, T8: ages on the day of the act, from the birth date the identity number carries.
        facts["birth_dates"] = {hashed: born for hashed, n in numbers.items() if (born := birth_date(n))}
    if action == "village_pass" and isinstance(data.get("investigators"), list):
        names = sorted({n.strip() for n in data["investigators"] if isinstance(n, str) and n.strip()})
        facts["investigator_hashes"] = investigators_of(session, case, names[:_MAX_INVESTIGATORS])
    if action == "village_pass":
        facts["submitted_on"] = _submitted_on(case)
    if action == "grant_emergency":
        facts["fund_balance"] = lock_fund(session.connection(), fund_account(case), now)
        year = local_date(now).year
        hashes = household_hashes(case)
        facts["grants_this_year"] = session.exec(
            select(func.count(func.distinct(EmergencyGrant.case_id))).where(
                col(EmergencyGrant.person_hash).in_(hashes),
                EmergencyGrant.cause == case.data.get("cause"),
                EmergencyGrant.year == year,
                EmergencyGrant.case_id != case.id,
            )
        ).one()
    return facts


def actor_facts(session: Session, *, env: Env, case: Case, actor: Actor, now: datetime) -> Mapping[str, Any]:
    """The facts for the guards that judge only who acts (`actor_guard`), when the engine lists the
    actions a caller may fire: those guards read the case and the actor, no database fact; the rules in
    force are given as for any act."""
    return {"rules": env.rules(case.region_code, now)}
