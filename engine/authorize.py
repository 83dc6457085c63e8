"""Who may see a case and fire an act on it: judged once per act, in the contract's order, and handed on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlmodel import Session

from engine.access import Actor, Role
from engine.caserow import get_case
from engine.definition import CaseView, GuardContext, Transition, WorkflowDefinition, judges_actor
from engine.errors import InvalidInput, NotFound, RoleNotPermitted, StaleVersion, TransitionNotAllowed
from engine.tables import MAX_ID, Case

# When an actor holds several roles that may fire an act, the most local one is recorded.
_ROLE_ORDER = (
    Role.SYSTEM,
    Role.PUBLIC,
    Role.APPLICANT,
    Role.VILLAGE_OFFICER,
    Role.TOWNSHIP_OFFICER,
    Role.COUNTY_OFFICER,
    Role.ADMIN,
    Role.INSPECTOR,
)


@dataclass(frozen=True)
class Decision:
    """`actor` may fire `rule` on the case `case_id` as it stood at `version` (in `state`), acting as `role`."""

    rule: Transition
    role: str
    actor: Actor
    case_id: int
    version: int
    state: str

    @property
    def action(self) -> str:
        return self.rule.action


def view(case: Case) -> CaseView:
    """The snapshot of a case that guards and effects judge."""
    assert case.id is not None
    return CaseView(
        id=case.id,
        workflow=case.workflow,
        workflow_version=case.workflow_version,
        state=case.state,
        version=case.version,
        region_code=case.region_code,
        data=MappingProxyType(case.data),
        applicant_user_id=case.applicant_user_id,
        created_by_user_id=case.created_by_user_id,
        state_entered_at=case.state_entered_at,
        created_at=case.created_at,
    )


def roles_on_case(actor: Actor, case: Case) -> frozenset[str]:
    """The roles an actor holds with respect to this case (grants above it; owning it)."""
    roles = set(actor.roles_on(case.region_code))
    roles.discard(Role.APPLICANT)
    if actor.user_id is not None and actor.user_id == case.applicant_user_id:
        roles.add(Role.APPLICANT)
    return frozenset(roles)


def can_see(actor: Actor, case: Case) -> bool:
    return bool(roles_on_case(actor, case))


def valid_id(value: int) -> bool:
    """An id a row could have: no lookup for the rest (the column cannot even be asked for them)."""
    return 1 <= value <= MAX_ID


def _not_found(case_id: int | None) -> NotFound:
    return NotFound(f"案件 {case_id} 不存在 / case {case_id} not found")


def load_case(session: Session, case_id: int, actor: Actor) -> Case:
    """The case if it exists and the actor's scope reaches it; NotFound otherwise, alike."""
    case = get_case(session, case_id) if valid_id(case_id) else None
    if case is None or not can_see(actor, case):
        raise _not_found(case_id)
    return case


def authorize(
    definition: WorkflowDefinition,
    case: Case,
    actor: Actor,
    action: str,
    *,
    other_definitions: Callable[[], Iterable[WorkflowDefinition]] = tuple,
    version: int | None = None,
) -> Decision:
    """The one judgment of scope, role and state for an act, refused in the contract's order.

    404 when the case is outside the actor's scope; an action no workflow knows is bad input (422);
    403 when no role of the actor ever fires the action (in this workflow, or in one of
    `other_definitions` when it is theirs); 409 when it is not available from the present state, or
    belongs to another workflow whose action the actor's role fires there. With `version`, the one
    the actor saw: when the case has moved on since, the actor is told to reload (409, stale) rather
    than judged on a state they have not seen.
    """
    if not can_see(actor, case):
        raise _not_found(case.id)
    assert case.id is not None
    held = roles_on_case(actor, case)
    rules = definition.transitions_for(action)
    if not rules:
        _refuse_foreign(definition, case, held, action, other_definitions())
    if not held & frozenset().union(*(r.roles for r in rules)):
        raise RoleNotPermitted(f"您的角色无权执行「{action}」/ your role may not perform '{action}'")
    if version is not None and version != case.version:
        raise StaleVersion(case.id, version, case.version)
    rule = definition.transition_from(case.state, action)
    if rule is None:
        raise TransitionNotAllowed(action, case.state)
    allowed = held & rule.roles
    if not allowed:
        whose = ", ".join(sorted(rule.roles))
        raise TransitionNotAllowed(
            action,
            case.state,
            f"在「{case.state}」状态下「{action}」由 {whose} 办理 / in state '{case.state}', '{action}' is for {whose}",
        )
    role = next(r for r in _ROLE_ORDER if r in allowed)
    return Decision(rule=rule, role=role, actor=actor, case_id=case.id, version=case.version, state=case.state)


def _refuse_foreign(
    definition: WorkflowDefinition,
    case: Case,
    held: frozenset[str],
    action: str,
    others: Iterable[WorkflowDefinition],
) -> None:
    """An action of another workflow (approve on an emergency case): 409 to a role that fires it
    there, 403 to one that never does; a name no workflow knows is bad input (422)."""
    roles = frozenset().union(*(t.roles for d in others for t in d.transitions_for(action)))
    if not roles:
        raise InvalidInput(f"未知操作「{action}」/ unknown action '{action}'")
    if held & roles:
        kind = definition.title.split(" / ")[0]
        raise TransitionNotAllowed(
            action,
            case.state,
            f"「{action}」不适用于此类申请（{kind}）/ '{action}' does not apply to this kind of case ({case.workflow})",
        )
    raise RoleNotPermitted(f"您的角色无权执行「{action}」/ your role may not perform '{action}'")


def available_actions(
    definition: WorkflowDefinition,
    case: Case,
    actor: Actor,
    *,
    include_system: bool = False,
    now: datetime | None = None,
    facts: Mapping[str, Any] | None = None,
) -> list[str]:
    """Actions the actor may fire from the case's present state.

    With `now`, the guards that judge only who acts (`actor_guard`: recusal, separation of duties,
    who may withdraw) are run too, so an official is not offered an act they would be refused.
    Guards on the act's data are not: they are judged when the act comes with its data.
    """
    offered = [t for t in definition.available_from(case.state) if include_system or t.roles != {Role.SYSTEM}]
    return list(_permitted(offered, case, actor, now, facts))


def may_take_queued(
    definition: WorkflowDefinition, case: Case, actor: Actor, *, now: datetime, facts: Mapping[str, Any]
) -> bool:
    """Whether `available_actions` (with `now`) holds a queued act: the same judgement, stopped at the
    first such act."""
    offered = [t for t in definition.available_from(case.state) if t.queued and t.roles != {Role.SYSTEM}]
    return next(_permitted(offered, case, actor, now, facts), None) is not None


def _permitted(
    offered: list[Transition], case: Case, actor: Actor, now: datetime | None, facts: Mapping[str, Any] | None
) -> Iterator[str]:
    held = roles_on_case(actor, case)
    offered = [t for t in offered if held & t.roles]
    if now is None:
        yield from (t.action for t in offered)
        return
    before = view(case) if offered else None
    frozen_facts = MappingProxyType(dict(facts or {}))
    for t in offered:
        assert before is not None
        role = next(r for r in _ROLE_ORDER if r in held & t.roles)
        ctx = GuardContext(before, actor, role, t.action, MappingProxyType({}), now, frozen_facts)
        if not any(reason for guard in t.guards if judges_actor(guard) for reason in guard(ctx)):
            yield t.action
