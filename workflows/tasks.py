"""Whose work a case is now: the acts a person may take on it, the guards that judge the person included;
and how many such cases wait in each state of a person's queue, from the kept counts. A case that names
nobody's person is judged by its (roles, workflow, state) alone; only the person's links to open cases
(workflows.links) are judged one by one."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlmodel import Session

from engine.access import Actor, Role
from engine.authorize import may_take_queued
from engine.definition import WorkflowDefinition, judges_actor
from engine.queue import cases_in, grant_region, grants_apart, kept_rows, queue_cases_among
from engine.tables import Case
from workflows.facts import actor_facts, same_person
from workflows.links import LINKED_GUARDS, linked_ids, person_keys

if TYPE_CHECKING:
    from workflows.env import Env


def has_task(
    session: Session, env: Env, case: Case, actor: Actor, now: datetime, *, same: frozenset[str] | None = None
) -> bool:
    """Whether the case holds a task for the actor now: a queued action they may fire (the guards that
    judge the person included, the person's other accounts (`same`, looked up when not given) as
    firing judges them; withdrawing, a filer's right, is not a task). The queue and the mail both ask
    this."""
    facts = {**actor_facts(session, env=env, case=case, actor=actor, now=now)}
    facts["same_person"] = same_person(session, actor) if same is None else same
    return may_take_queued(env.definition_for(case), case, actor, now=now, facts=facts)


def _unlinked_task(
    definitions: list[WorkflowDefinition], held: frozenset[str], workflow: str, state: str
) -> bool | None:
    """Whether a case of `workflow` in `state` that does not name the person is a task for roles
    `held`: a queued act of theirs whose person guards all refuse only linked cases. None when that
    depends on the case (a guard that may refuse anyone; versions of the workflow that differ)."""
    verdicts = set()
    for definition in definitions:
        if definition.key != workflow:
            continue
        offered = [t for t in definition.available_from(state) if t.queued and held & t.roles]
        if any(all(gd in LINKED_GUARDS for gd in t.guards if judges_actor(gd)) for t in offered):
            verdicts.add(True)
        elif offered:
            return None
        else:
            verdicts.add(False)
    return verdicts.pop() if len(verdicts) == 1 else None


def linked_cases(
    session: Session, actor: Actor, same: frozenset[str], states_by_role: Mapping[str, frozenset[str]]
) -> dict[int, Case]:
    """The cases of the actor's queue ranges linked to the person (workflows.links), by id: the person's
    links to open cases, one index range per key, each case then read by its id."""
    keys = person_keys(actor, same)
    return {
        int(case.id or 0): case for case in queue_cases_among(session, actor, states_by_role, linked_ids(keys), keys)
    }


_verdicts: dict[tuple[tuple[tuple[str, int], ...], frozenset[str], str, str], bool | None] = {}
_UNKNOWN: Any = object()


class _Verdicts:
    """`_unlinked_task` per (roles held, workflow, state), worked out once per set of definitions."""

    def __init__(self, definitions: list[WorkflowDefinition]) -> None:
        self.definitions = definitions
        self.versions = tuple((d.key, d.version) for d in definitions)

    def __call__(self, held: frozenset[str], workflow: str, state: str) -> bool | None:
        key = (self.versions, held, workflow, state)
        found = _verdicts.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            if len(_verdicts) > 4096:
                _verdicts.clear()
            found = _verdicts[key] = _unlinked_task(self.definitions, held, workflow, state)
        return cast("bool | None", found)


def task_judge(
    session: Session,
    env: Env,
    actor: Actor,
    now: datetime,
    *,
    same: frozenset[str],
    linked: Collection[int],
    definitions: list[WorkflowDefinition] | None = None,
) -> Callable[[Case], bool]:
    """`has_task` for the cases of the actor's queue, given the person's `linked` cases: a case not
    linked to them is judged by its roles, workflow and state (what the kept counts assume), the
    others by their guards."""
    verdict = _Verdicts(env.definitions() if definitions is None else definitions)
    roles_on: dict[str, frozenset[str]] = {}

    def judge(case: Case) -> bool:
        if case.id not in linked:
            if case.region_code not in roles_on:
                roles_on[case.region_code] = actor.roles_on(case.region_code) - {Role.APPLICANT}
            found = verdict(roles_on[case.region_code], case.workflow, case.state)
            if found is not None:
                return found
        return has_task(session, env, case, actor, now, same=same)

    return judge


def task_counts(
    session: Session,
    env: Env,
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    now: datetime,
    *,
    same: frozenset[str] | None = None,
    definitions: list[WorkflowDefinition] | None = None,
    linked: Mapping[int, Case] | None = None,
) -> dict[str, int]:
    """Per state, the cases of the actor's queue that hold a task for them: what `queue_counts` gives
    with `has_task` as its filter, without judging every case.

    The kept counts of the queue's ranges, each (village, workflow, state) taken whole when a case
    there that does not name the person is a task for them; then the cases that do name them
    (`linked`, looked up when not given), judged one by one in place of their row's assumption. A
    (village, workflow, state) whose cases cannot be judged without reading them is judged case by case."""
    same = same_person(session, actor) if same is None else same
    verdict = _Verdicts(env.definitions() if definitions is None else definitions)
    counts: dict[str, int] = {}
    assumed: dict[tuple[str, str, str], bool] = {}
    judged_whole: list[tuple[str, str, str]] = []
    regions: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # the roles held there, the states they queue
    for region, workflow, state, n in kept_rows(session, actor, states_by_role):
        if region not in regions:
            roles = actor.roles_on(region)
            queued = frozenset().union(*(states_by_role.get(role, ()) for role in roles))
            regions[region] = (roles - {Role.APPLICANT}, queued)
        held, queued = regions[region]
        if state not in queued:
            continue  # in another grant's range, not in a state this region's roles queue
        found = verdict(held, workflow, state)
        if found is None:
            judged_whole.append((region, workflow, state))
            continue
        assumed[(region, workflow, state)] = found
        if found:
            counts[state] = counts.get(state, 0) + n
    linked = linked_cases(session, actor, same, states_by_role) if linked is None else linked
    by_grant = grants_apart(actor)
    for case in linked.values():
        region = grant_region(actor, case.region_code) if by_grant else case.region_code
        where = (region, case.workflow, case.state)
        if where in assumed:
            change = int(has_task(session, env, case, actor, now, same=same)) - int(assumed[where])
            counts[case.state] = counts.get(case.state, 0) + change
    for region, workflow, state in judged_whole:
        for case in cases_in(session, region, workflow, state):
            if has_task(session, env, case, actor, now, same=same):
                counts[state] = counts.get(state, 0) + 1
    return {state: n for state, n in counts.items() if n}
