"""Facts the guards read from the database, looked up before an act is fired."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine.access import Actor, Role, county_of, covers, township_of
from engine.calendar import local_date
from engine.secrets import valid_id_number
from engine.statements import RawStatement
from engine.tables import Case, RoleGrant, User
from workflows.base import household_hashes, spec_of
from workflows.fund import fund_account, lock_fund
from workflows.guards import birth_date, members
from workflows.models import CaseIdentifier, EmergencyGrant
from workflows.spec import TemporarySpec
from workflows.temporary import GRANTED

if TYPE_CHECKING:
    from workflows.env import Env


_MAX_INVESTIGATORS = 20
_INVESTIGATOR_COLUMNS = (
    col(User.username),
    col(User.display_name),
    col(User.id_number_hash),
    col(RoleGrant.region_code),
    col(RoleGrant.role),
)


def _may_investigate(role: str, region: str, case: Case, roles: Sequence[str]) -> bool:
    """P3: a village officer of the case's own village, or a policy-listed role whose grant reaches it."""
    if role not in roles:
        return False
    if role == Role.VILLAGE_OFFICER:
        return region == case.region_code
    return covers(region, case.region_code)


def _investigator_rows(session: Session, names: Sequence[str] | None) -> Sequence[Any]:
    query = (
        core_select(*_INVESTIGATOR_COLUMNS)
        .join(RoleGrant, col(RoleGrant.user_id) == col(User.id))
        .where(col(User.active).is_(True))
        .order_by(col(User.username))
    )
    if names is not None:
        query = query.where(col(User.username).in_(list(names)))
    return session.execute(query).all()


def investigators_of(session: Session, case: Case, names: Sequence[str], roles: Sequence[str]) -> dict[str, str | None]:
    """Of `names`, the active officials who may sign the case's house visit, with their identity hash;
    a name missing here is no one who may."""
    if not names:
        return {}
    return {
        str(name): hashed
        for name, _shown, hashed, region, role in _investigator_rows(session, names)
        if _may_investigate(str(role), str(region), case, roles)
    }


def eligible_investigators(session: Session, *, env: Env, case: Case, now: datetime) -> list[tuple[str, str]]:
    """Who may be picked for the case's house visit, as (username, name): the officials of its village
    (and any role the policy adds), less those related to the household."""
    roles = env.rules(case.region_code, now).investigator_roles
    barred = set(case.data.get("recused") or [])
    village = case.region_code
    rows = session.execute(
        core_select(*_INVESTIGATOR_COLUMNS)
        .join(RoleGrant, col(RoleGrant.user_id) == col(User.id))
        .where(
            col(User.active).is_(True),
            col(RoleGrant.region_code).in_([village, township_of(village), county_of(village)]),
        )
        .order_by(col(User.username))
    ).all()
    found: dict[str, str] = {}
    for name, shown, _hashed, region, role in rows:
        if str(name) not in barred and _may_investigate(str(role), str(region), case, roles):
            found.setdefault(str(name), str(shown or name))
    return sorted(found.items())


def _submitted_on(case: Case) -> date:
    """The local day the application was submitted (its creation, for a case submitted before this was kept)."""
    stamped = (case.data.get("submitted") or {}).get("at")
    at = datetime.fromisoformat(stamped) if isinstance(stamped, str) else case.created_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return local_date(at)


def same_person(session: Session, actor: Actor) -> frozenset[str]:
    """The actor's other accounts: those registered under the same identity number. Separation of duties
    is between people, not between accounts (one official with two accounts is one official)."""
    if not actor.id_number_hash or actor.is_system:
        return frozenset()
    cursor = _SAME_PERSON.execute(session.connection(), {"hash": actor.id_number_hash, "me": actor.username})
    try:
        return frozenset(str(name) for (name,) in cursor.fetchall())
    finally:
        cursor.close()


_users = User.__table__.c  # type: ignore[attr-defined]
# Asked by every act and every queue page: run on the driver's cursor (engine.statements).
_SAME_PERSON = RawStatement(
    core_select(_users.username).where(_users.id_number_hash == bindparam("hash"), _users.username != bindparam("me"))
)


def facts_for(
    session: Session, env: Env, case: Case, action: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """What the guards of `action` need from the database, looked up before firing."""
    facts: dict[str, Any] = {"rules": env.rules(case.region_code, now)}
    if action in ("submit", "village_pass", "approve", "terminate"):
        numbers = {
            str(m.get("id_hash")): env.cipher.decrypt(str(m["id_enc"])) for m in members(case.data) if m.get("id_enc")
        }
        facts["invalid_ids"] = [
            str(m.get("name", ""))
            for m in members(case.data)
            if not m.get("id_enc") or not valid_id_number(numbers[str(m.get("id_hash"))])
        ]
        # T2, T6, T8: ages on the day of the act, from the birth date the identity number carries.
        facts["birth_dates"] = {hashed: born for hashed, n in numbers.items() if (born := birth_date(n))}
    if action == "village_pass" and isinstance(data.get("investigators"), list):
        names = sorted({n.strip() for n in data["investigators"] if isinstance(n, str) and n.strip()})
        facts["investigator_hashes"] = investigators_of(
            session, case, names[:_MAX_INVESTIGATORS], facts["rules"].investigator_roles
        )
    if action == "village_pass":
        facts["submitted_on"] = _submitted_on(case)
    if action == "grant_emergency":
        facts["fund_balance"] = lock_fund(session.connection(), fund_account(case), now)
        window = facts["rules"].grants_per_cause_window_years
        facts["grants_this_year"] = cause_grants_this_year(session, case, now, window_years=window)[0]
    if action == "grant_temporary":
        window = facts["rules"].grants_per_cause_window_years
        facts["cause_grants_this_year"] = cause_grants_this_year(session, case, now, window_years=window)[0]
        facts["cause_fen_this_year"] = cause_grants_this_year(session, case, now)[1]  # K6 caps: this year
    if action == "submit" and case.workflow == TemporarySpec.key:
        spec = spec_of(case)
        assert isinstance(spec, TemporarySpec)
        facts["temporary_due_at"] = env.calendar.due(now, spec.total)  # K2: accepted to decided
    return facts


def cause_grants_this_year(session: Session, case: Case, now: datetime, *, window_years: int = 1) -> tuple[int, int]:
    """K6, K7: the other grants this calendar year (or the policy's window of years ending with it) for the
    case's cause to any of its household's members, by either channel (the fast channel's grants, and
    granted temporary aid): how many, and their sum."""
    year = local_date(now).year
    hashes = household_hashes(case)
    cause = case.data.get("cause")
    emergency = session.exec(
        select(EmergencyGrant.case_id, EmergencyGrant.amount_fen).where(
            col(EmergencyGrant.person_hash).in_(hashes),
            EmergencyGrant.cause == cause,
            EmergencyGrant.year > year - window_years,
            EmergencyGrant.case_id != case.id,
        )
    ).all()
    granted = dict(emergency)  # one amount per case (the grant is kept once per member)
    related = select(CaseIdentifier.case_id).where(
        col(CaseIdentifier.lookup_hash).in_(hashes), col(CaseIdentifier.kind).in_(("applicant", "member"))
    )
    temporary = session.exec(
        select(Case).where(
            Case.workflow == TemporarySpec.key,
            Case.state == GRANTED,
            col(Case.id).in_(related),
            Case.id != case.id,
        )
    ).all()
    for other in temporary:
        grant = other.data.get("temporary_grant") or {}
        on = grant.get("at")
        if (
            other.data.get("cause") == cause
            and on
            and local_date(datetime.fromisoformat(on)).year > year - window_years
        ):
            granted[int(other.id or 0)] = int(grant.get("amount_fen", 0))
    return len(granted), sum(granted.values())


def actor_facts(session: Session, *, env: Env, case: Case, actor: Actor, now: datetime) -> Mapping[str, Any]:
    """The facts for the guards that judge only who acts (`actor_guard`), when the engine lists the
    actions a caller may fire: those guards read the case and the actor, no database fact; the rules in
    force are given as for any act."""
    return {"rules": env.rules(case.region_code, now)}
