"""The cases a person is linked to: the only cases the guards that judge the person can refuse them.

Each guard below refuses an official only on a case that names them, and each way a case names a person
is kept as a row of `person_links` (workflows.models.PersonLink), written in the transaction that names
them:

- acted on it (`village_actors`, `township_actors`, `township_passers`, the `by` of a decision an
  objection challenges): their username, by `after_act` for every act they take;
- visited the household as an investigator (`village_actors` without an act of their own): each
  username the village review names, by `after_act`;
- related to the household (`recused`, set at opening from the officials whose identity hash is among
  the household's, and `relative_hashes`): the identity hashes of the applicant, members, relatives in
  office and supporters, at opening (`link_opened`);
- the applicant (their roles on the case differ): `user:<id>` of the account that applied, at opening.

A case that can no longer reach a state anyone's queue holds (`closed`) keeps no rows: they are dropped
by the act (or the timer, `after_timer`) that closes it, so what a person's queue reads is their links
to open cases, not their history. Separation of duties is between people: every account with the same
identity number is looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, text
from sqlmodel import Session

from engine.access import Actor, Role
from engine.definition import Guard, WorkflowDefinition
from engine.queue import actionable_states
from engine.runtime import TransitionRecord
from engine.statements import RawStatement
from engine.tables import Case
from workflows import guards as g
from workflows.models import CaseIdentifier, PersonLink

if TYPE_CHECKING:
    from workflows.env import Env

INVESTIGATOR = "investigator"
PERSON_KINDS = ("applicant", "member", "relative", "supporter")

LINKED_GUARDS: frozenset[Guard] = frozenset(
    {g.not_recused, g.not_village_actor, g.not_township_actor, g.not_township_passer, g.not_challenged}
)
"""Actor guards that refuse only on a case linked to the person as above. An actor guard not listed
here (who may withdraw, the township's re-check) may refuse anyone: a queued act it guards is counted
case by case."""

_ids = CaseIdentifier.__table__.c  # type: ignore[attr-defined]
_links = PersonLink.__table__.c  # type: ignore[attr-defined]
_LINK = RawStatement(
    text("INSERT INTO person_links (person, case_id) VALUES (:person, :case_id) ON CONFLICT DO NOTHING")
)
_UNLINK = RawStatement(text("DELETE FROM person_links WHERE case_id = :case_id"))
_closed: dict[tuple[str, int, str], bool] = {}


def closed(definition: WorkflowDefinition, state: str) -> bool:
    """Whether a case in `state` can no longer reach a state that is anyone's task: its links are of no use."""
    key = (definition.key, definition.version, state)
    found = _closed.get(key)
    if found is None:
        queued = set().union(*actionable_states([definition]).values())
        reached, todo = {state}, [state]
        while todo:
            for t in definition.available_from(todo.pop()):
                for nxt in t.destinations():
                    if nxt not in reached:
                        reached.add(nxt)
                        todo.append(nxt)
        found = _closed[key] = not reached & queued
    return found


def applicant_key(user_id: int) -> str:
    return f"user:{user_id}"


def person_keys(actor: Actor, accounts: Iterable[str]) -> tuple[str, ...]:
    """What the links of the person holding `actor` and their other `accounts` are kept under."""
    keys = sorted({actor.username, *accounts})
    if actor.id_number_hash:
        keys.append(actor.id_number_hash)
    if actor.user_id is not None:
        keys.append(applicant_key(actor.user_id))
    return tuple(keys)


def linked_ids(keys: Iterable[str]) -> Select[Any]:
    """The ids of the open cases linked to a person with these `person_keys` (one index range each)."""
    return select(_links.case_id).where(_links.person.in_(list(keys)))


def _keep(session: Session, case: Case, persons: Iterable[str]) -> None:
    conn = session.connection()
    for person in dict.fromkeys(persons):
        _LINK.execute(conn, {"person": person, "case_id": case.id}).close()


def link_opened(
    session: Session, definition: WorkflowDefinition, case: Case, opener: Actor, hashes: Iterable[str]
) -> None:
    """The people a case names as it opens: who opened it, the household's identity hashes, the applicant."""
    if closed(definition, case.state):
        return
    persons = [] if opener.is_system else [opener.username]
    persons += hashes
    if case.applicant_user_id is not None:
        persons.append(applicant_key(case.applicant_user_id))
    _keep(session, case, persons)


def after_act(session: Session, definition: WorkflowDefinition, case: Case, record: TransitionRecord) -> None:
    """Keep the links an act makes (its actor, the investigators it names), or drop the case's links when
    the act closed it."""
    named = index_investigators(session, case, record)
    if closed(definition, case.state):
        if record.moved:
            _UNLINK.execute(session.connection(), {"case_id": case.id}).close()
        return
    _keep(session, case, ([] if record.role in (Role.SYSTEM, Role.PUBLIC) else [record.actor]) + named)


def after_timer(session: Session, env: Env, record: TransitionRecord) -> None:
    """A timer's act names nobody; it may close the case."""
    case = session.get(Case, record.case_id)
    if case is not None and record.moved:
        after_act(session, env.definition_for(case), case, record)


def index_investigators(session: Session, case: Case, record: TransitionRecord) -> list[str]:
    """The officials a village review names without their own act (the house visit's investigators),
    kept so that the case can be found by their name. Only an act naming investigators adds them;
    returned, to be linked."""
    if not record.data.get("investigators"):
        return []
    named = [str(n) for n in case.data.get("village_actors") or [] if str(n) != record.actor]
    if not named:
        return []
    assert case.id is not None
    known = set(
        session.scalars(select(_ids.lookup_hash).where(_ids.case_id == case.id, _ids.kind == INVESTIGATOR)).all()
    )
    fresh = list(dict.fromkeys(n for n in named if n not in known))
    for name in fresh:
        session.add(CaseIdentifier(case_id=case.id, kind=INVESTIGATOR, lookup_hash=name, county_code=case.county_code))
    session.flush()
    return fresh
