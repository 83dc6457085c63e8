"""Whose work a case is now: the acts a person may take on it, the guards that judge the person included;
and how many such cases wait in each state of a person's queue, from the kept counts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from engine.access import Actor, Role
from engine.authorize import available_actions
from engine.definition import WorkflowDefinition, judges_actor
from engine.queue import cases_in, kept_rows, queue_cases_among
from engine.tables import Case
from workflows.facts import actor_facts, same_person
from workflows.links import LINKED_GUARDS, linked_ids

if TYPE_CHECKING:
    from workflows.env import Env


def has_task(
    session: Session, env: Env, case: Case, actor: Actor, now: datetime, *, same: frozenset[str] | None = None
) -> bool:
    """Whether the case holds a task for the actor now: a queued action they may fire (the guards that
    judge the person included, the person's other accounts (`same`, looked up when not given) as
    firing judges them; withdrawing, a filer's right, is not a task). The queue and the mail both ask
    this."""
    definition = env.definition_for(case)
    tasks = {t.action for t in definition.available_from(case.state) if t.queued}
    facts = {**actor_facts(session, env=env, case=case, actor=actor, now=now)}
    facts["same_person"] = same_person(session, actor) if same is None else same
    return any(a in tasks for a in available_actions(definition, case, actor, now=now, facts=facts))


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


def task_counts(
    session: Session,
    env: Env,
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    now: datetime,
    *,
    same: frozenset[str] | None = None,
    definitions: list[WorkflowDefinition] | None = None,
) -> dict[str, int]:
    """Per state, the cases of the actor's queue that hold a task for them: what `queue_counts` gives
    with `has_task` as its filter, without judging every case.

    The kept counts of the queue's ranges, each (village, workflow, state) taken whole when a case
    there that does not name the person is a task for them; then the cases that do name them
    (workflows.links), judged one by one in place of their row's assumption. A (village, workflow,
    state) whose cases cannot be judged without reading them is judged case by case."""
    same = same_person(session, actor) if same is None else same
    definitions = env.definitions() if definitions is None else definitions
    verdicts: dict[tuple[frozenset[str], str, str], bool | None] = {}
    counts: dict[str, int] = {}
    assumed: dict[tuple[str, str, str], bool] = {}
    judged_whole: list[tuple[str, str, str]] = []
    roles_on: dict[str, frozenset[str]] = {}
    for region, workflow, state, n in kept_rows(session, actor, states_by_role):
        if region not in roles_on:
            roles_on[region] = actor.roles_on(region)
        if not any(state in states_by_role.get(role, ()) for role in roles_on[region]):
            continue  # in another grant's range, not in a state this region's roles queue
        held = roles_on[region] - {Role.APPLICANT}
        if (held, workflow, state) not in verdicts:
            verdicts[(held, workflow, state)] = _unlinked_task(definitions, held, workflow, state)
        verdict = verdicts[(held, workflow, state)]
        if verdict is None:
            judged_whole.append((region, workflow, state))
            continue
        assumed[(region, workflow, state)] = verdict
        if verdict:
            counts[state] = counts.get(state, 0) + n
    names = tuple(sorted({actor.username, *same}))
    person = (names, actor.id_number_hash, actor.user_id)
    for case in queue_cases_among(session, actor, states_by_role, lambda: linked_ids(actor, names), person):
        where = (case.region_code, case.workflow, case.state)
        if where in assumed:
            change = int(has_task(session, env, case, actor, now, same=same)) - int(assumed[where])
            counts[case.state] = counts.get(case.state, 0) + change
    for region, workflow, state in judged_whole:
        for case in cases_in(session, region, workflow, state):
            if has_task(session, env, case, actor, now, same=same):
                counts[state] = counts.get(state, 0) + 1
    return {state: n for state, n in counts.items() if n}
