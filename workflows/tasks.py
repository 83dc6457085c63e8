"""Whose work a case is now: the acts a person may take on it, the guards that judge the person included."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from engine.access import Actor
from engine.authorize import available_actions
from engine.tables import Case
from workflows.facts import actor_facts

if TYPE_CHECKING:
    from workflows.env import Env


def has_task(session: Session, env: Env, case: Case, actor: Actor, now: datetime) -> bool:
    """Whether the case holds a task for the actor now: a queued action they may fire (the guards that
    judge the person included; withdrawing, a filer's right, is not a task). The queue and the mail
    both ask this."""
    definition = env.definition_for(case)
    tasks = {t.action for t in definition.available_from(case.state) if t.queued}
    facts = actor_facts(session, env=env, case=case, actor=actor, now=now)
    return any(a in tasks for a in available_actions(definition, case, actor, now=now, facts=facts))
