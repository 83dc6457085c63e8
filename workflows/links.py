"""The cases a person is linked to: the only cases the guards that judge the person can refuse them.

Each guard below refuses an official only on a case that names them, and each way a case names a person
is found through an index:

- acted on it (`village_actors`, `township_actors`, `township_passers`, the `by` of a decision an
  objection challenges): the audit trail by actor (`ix_audit_actor_case`);
- visited the household as an investigator (`village_actors` without an act of their own): a
  `case_identifiers` row of kind `investigator` keyed by the username, written by `index_investigators`;
- related to the household (`recused`, set at opening from the officials whose identity hash is among
  the household's, and `relative_hashes`): `case_identifiers` by the official's own identity hash;
- the applicant (their roles on the case differ): `cases.applicant_user_id`.

Separation of duties is between people: every account with the same identity number is looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import CompoundSelect, Select, select, union
from sqlmodel import Session

from engine.access import Actor
from engine.definition import Guard
from engine.runtime import TransitionRecord
from engine.tables import AuditEntry, Case
from workflows import guards as g
from workflows.models import CaseIdentifier

INVESTIGATOR = "investigator"
PERSON_KINDS = ("applicant", "member", "relative", "supporter")

LINKED_GUARDS: frozenset[Guard] = frozenset(
    {g.not_recused, g.not_village_actor, g.not_township_actor, g.not_township_passer, g.not_challenged}
)
"""Actor guards that refuse only on a case linked to the person as above. An actor guard not listed
here (who may withdraw, the township's re-check) may refuse anyone: a queued act it guards is counted
case by case."""

_audit = AuditEntry.__table__.c  # type: ignore[attr-defined]
_ids = CaseIdentifier.__table__.c  # type: ignore[attr-defined]
_cases = Case.__table__.c  # type: ignore[attr-defined]


def linked_ids(actor: Actor, accounts: Iterable[str]) -> Select[Any] | CompoundSelect[Any]:
    """The ids of the cases linked to the person holding `actor` and their other `accounts`, each
    part one index range."""
    names = sorted({actor.username, *accounts})
    parts: list[Select[Any]] = [
        select(_audit.case_id).where(_audit.actor.in_(names), _audit.case_id.is_not(None)),
        select(_ids.case_id).where(_ids.lookup_hash.in_(names), _ids.kind == INVESTIGATOR),
    ]
    if actor.id_number_hash:
        parts.append(select(_ids.case_id).where(_ids.lookup_hash == actor.id_number_hash, _ids.kind.in_(PERSON_KINDS)))
    if actor.user_id is not None:
        parts.append(select(_cases.id).where(_cases.applicant_user_id == actor.user_id))
    return union(*parts)


def index_investigators(session: Session, case: Case, record: TransitionRecord) -> None:
    """The officials a village review names without their own act (the house visit's investigators),
    kept so that the case can be found by their name. Only an act naming investigators adds them."""
    if not record.data.get("investigators"):
        return
    named = [str(n) for n in case.data.get("village_actors") or [] if str(n) != record.actor]
    if not named:
        return
    assert case.id is not None
    known = set(
        session.scalars(select(_ids.lookup_hash).where(_ids.case_id == case.id, _ids.kind == INVESTIGATOR)).all()
    )
    for name in dict.fromkeys(n for n in named if n not in known):
        session.add(CaseIdentifier(case_id=case.id, kind=INVESTIGATOR, lookup_hash=name, county_code=case.county_code))
    session.flush()
