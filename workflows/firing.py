"""The one call into engine.fire for the aid domain: the act judged once, facts looked up, reactions run after."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from engine.access import Actor
from engine.authorize import Decision, authorize
from engine.runtime import TransitionRecord, fire
from engine.tables import Case
from workflows.facts import facts_for, same_person
from workflows.links import after_act

if TYPE_CHECKING:
    from workflows.env import Env

Reaction = Callable[[Session, "Env", Case, TransitionRecord, datetime], None]
"""A domain record kept when a transition happens (a notice posted, an objection decided, money moved)."""


def decide(env: Env, case: Case, actor: Actor, action: str, *, version: int | None = None) -> Decision:
    """Scope, role and state of an act on an aid case, judged once (an action of another aid workflow
    is told apart from an unknown one)."""
    return authorize(env.definition_for(case), case, actor, action, other_definitions=env.definitions, version=version)


def fire_act(
    session: Session,
    *,
    env: Env,
    case: Case,
    decision: Decision,
    data: Mapping[str, Any],
    version: int,
    now: datetime,
    comment: str | None = None,
    facts: Mapping[str, Any] | None = None,
) -> TransitionRecord:
    """Fire the act `decision` permits with the facts its guards need, then keep the domain's records
    of it (env.reactions)."""
    definition = env.definition_for(case)
    looked_up = facts_for(session, env, case, decision.action, data, now)
    looked_up["same_person"] = same_person(session, decision.actor)
    looked_up.update(facts or {})
    record = fire(
        session,
        case=case,
        definition=definition,
        decision=decision,
        data=data,
        expected_version=version,
        now=now,
        calendar=env.calendar,
        facts=looked_up,
        comment=comment,
    )
    after_act(session, definition, case, record)
    for react in env.reactions:
        react(session, env, case, record, now)
    return record
