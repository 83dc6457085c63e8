"""Firing transitions: role, scope, state, version and guards checked; state, audit and timers
written in the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from engine import auditlog
from engine.access import Actor, Role, county_of, township_of
from engine.calendar import WorkCalendar
from engine.definition import CaseView, GuardContext, WorkflowDefinition, judges_actor
from engine.errors import (
    Attempt,
    GuardRejected,
    InvalidInput,
    NotFound,
    RoleNotPermitted,
    StaleVersion,
    TransitionNotAllowed,
)
from engine.machine import compiled
from engine.store import MAX_ID, Case, RawStatement, TimerRow, utcnow

_log = logging.getLogger("aidflow.timers")
_cases = Case.__table__  # type: ignore[attr-defined]
_timers = TimerRow.__table__  # type: ignore[attr-defined]
_INSERT_TIMER = RawStatement(
    insert(_timers).values(
        {
            name: bindparam(name, type_=_timers.c[name].type)
            for name in ("case_id", "action", "state", "entered_version", "due_at")
        }
    )
)
_case_updates: dict[tuple[str, ...], RawStatement] = {}


def _case_update(columns: tuple[str, ...]) -> RawStatement:
    """The version-checked UPDATE of a case setting `columns`, built once per column set."""
    stmt = _case_updates.get(columns)
    if stmt is None:
        stmt = RawStatement(
            update(_cases)
            .where(_cases.c.id == bindparam("where_id"), _cases.c.version == bindparam("where_version"))
            .values({name: bindparam(f"set_{name}", type_=_cases.c[name].type) for name in columns})
        )
        _case_updates[columns] = stmt
    return stmt


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
class TransitionRecord:
    """What happened, for the caller to react to (notifications, payments): no I/O was done for it."""

    case_id: int
    reference: str
    workflow: str
    region_code: str
    action: str
    from_state: str
    to_state: str
    actor: str
    actor_user_id: int | None
    role: str
    at: datetime
    version: int
    audit_seq: int
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    due_at: datetime | None = None

    @property
    def moved(self) -> bool:
        return self.from_state != self.to_state


def view(case: Case) -> CaseView:
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


def load_case(session: Session, case_id: int, actor: Actor) -> Case:
    """The case if it exists and the actor's scope reaches it; NotFound otherwise, alike."""
    case = session.get(Case, case_id) if valid_id(case_id) else None
    if case is None or not can_see(actor, case):
        raise NotFound(f"案件 {case_id} 不存在 / case {case_id} not found")
    return case


def _may_ever_fire(definition: WorkflowDefinition, case: Case, actor: Actor, action: str) -> frozenset[str]:
    """The actor's roles on the case, if one of them may fire `action` from some state."""
    rules = definition.transitions_for(action)
    if not rules:
        raise InvalidInput(f"未知操作「{action}」/ unknown action '{action}'")
    held = roles_on_case(actor, case)
    ever = frozenset().union(*(r.roles for r in rules))
    if not held & ever:
        raise RoleNotPermitted(f"您的角色无权执行「{action}」/ your role may not perform '{action}'")
    return held


def acting_role(definition: WorkflowDefinition, case: Case, actor: Actor, action: str) -> str:
    """The role under which `actor` may fire `action` on `case` now, or the typed refusal.

    Precedence as the contract states it: 403 when no role of the actor may ever fire the
    action; 409 when it is not available from the present state, to anyone or to the actor's
    roles (the action is theirs elsewhere in the workflow, so it is the state that refuses it).
    """
    held = _may_ever_fire(definition, case, actor, action)
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
    return next(r for r in _ROLE_ORDER if r in allowed)


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
    held = roles_on_case(actor, case)
    offered = [
        t
        for t in definition.available_from(case.state)
        if held & t.roles and (include_system or t.roles != {Role.SYSTEM})
    ]
    if now is None:
        return [t.action for t in offered]
    before = view(case)
    frozen_facts = MappingProxyType(dict(facts or {}))
    permitted = []
    for t in offered:
        role = next(r for r in _ROLE_ORDER if r in held & t.roles)
        ctx = GuardContext(before, actor, role, t.action, MappingProxyType({}), now, frozen_facts)
        if not any(reason for guard in t.guards if judges_actor(guard) for reason in guard(ctx)):
            permitted.append(t.action)
    return permitted


def fire(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    action: str,
    actor: Actor,
    data: Mapping[str, Any],
    expected_version: int,
    now: datetime,
    calendar: WorkCalendar,
    facts: Mapping[str, Any] | None = None,
    comment: str | None = None,
    due_at: datetime | None = None,
    recorded_at: datetime | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> TransitionRecord:
    """Apply `action` to `case` as `actor`, all in the session's open transaction.

    `now` is when the act takes effect (a timer's due time for timer-fired acts); the audit
    entry is stamped `recorded_at` (default: `now`), the time it is written.
    """
    if not can_see(actor, case):
        raise NotFound(f"案件 {case.id} 不存在 / case {case.id} not found")
    if expected_version != case.version:
        # Judged before the state: a caller who saw an older version is told to reload, not that
        # the act is unavailable from a state they have not seen (both are 409; only this one helps).
        _may_ever_fire(definition, case, actor, action)
        assert case.id is not None
        raise StaleVersion(case.id, expected_version, case.version)
    role = acting_role(definition, case, actor, action)
    rule = definition.transition_from(case.state, action)
    assert rule is not None
    before = view(case)
    ctx = GuardContext(
        before, actor, role, action, MappingProxyType(dict(data)), now, MappingProxyType(dict(facts or {}))
    )
    machine = compiled(definition)
    try:
        machine.check_guards(rule, ctx)
    except GuardRejected as refused:
        refused.attempt = Attempt(actor.username, role, case.region_code, case.id)
        raise
    to_state = machine.step(case.state, action, ctx)

    patch = dict(rule.effect(ctx)) if rule.effect is not None else {}
    new_data = {**case.data, **patch} if patch else case.data
    if patch and definition.check_data is not None:
        definition.check_data(new_data)
    new_version = case.version + 1
    entered = not rule.internal
    values: dict[str, Any] = {"state": to_state, "version": new_version, "updated_at": now}
    if patch:
        values["data"] = new_data
    if entered:
        values["entered_version"] = new_version
        values["state_entered_at"] = now
        after = CaseView(
            **{
                **before.__dict__,
                "state": to_state,
                "version": new_version,
                "data": MappingProxyType(new_data),
                "state_entered_at": now,
            }
        )
        deadline = definition.deadline_for(to_state)
        values["deadline"] = calendar.due(now, deadline.delay(after)) if deadline else None
    session.flush()  # what the caller has pending goes first, as autoflush would have it
    conn = session.connection()
    params = {f"set_{key}": value for key, value in values.items()}
    cursor = _case_update(tuple(values)).execute(
        conn, {**params, "where_id": case.id, "where_version": expected_version}
    )
    updated = cursor.rowcount
    cursor.close()
    if updated != 1:
        assert case.id is not None
        actual = conn.execute(select(_cases.c.version).where(_cases.c.id == case.id)).scalar_one_or_none()
        raise StaleVersion(case.id, expected_version, actual)
    for key, value in values.items():
        set_committed_value(case, key, value)

    if entered:
        for timer in definition.timers_for(to_state):
            _INSERT_TIMER.execute(
                conn,
                {
                    "case_id": case.id,
                    "action": timer.action,
                    "state": to_state,
                    "entered_version": new_version,
                    "due_at": calendar.due(now, timer.delay(after)),
                },
            ).close()

    act: dict[str, Any] = {"data": dict(data)}
    if comment:
        act["comment"] = comment
    if patch:
        act["set"] = patch
    if audit_extra:
        act.update(audit_extra)
    written = auditlog.append(
        session,
        at=recorded_at or now,
        actor=actor.username,
        role=role,
        action=action,
        region_code=case.region_code,
        case_id=case.id,
        from_state=before.state,
        to_state=to_state,
        data=act,
        due_at=due_at,
    )
    assert case.id is not None
    return TransitionRecord(
        case_id=case.id,
        reference=case.reference,
        workflow=case.workflow,
        region_code=case.region_code,
        action=action,
        from_state=before.state,
        to_state=to_state,
        actor=actor.username,
        actor_user_id=actor.user_id,
        role=role,
        at=now,
        version=new_version,
        audit_seq=written.seq,
        data=MappingProxyType(dict(data)),
        due_at=due_at,
    )


def record_refusal(session: Session, refused: GuardRejected, *, at: datetime) -> bool:
    """Put on the audit trail a refusal that judged the person (recusal, separation of duties), in
    a transaction of its own after the refused act was rolled back. False when there is none to record."""
    if not refused.about_actor or refused.attempt is None:
        return False
    who = refused.attempt
    auditlog.append(
        session,
        at=at,
        actor=who.actor,
        role=who.role,
        action="refused",
        region_code=who.region_code,
        case_id=who.case_id,
        from_state=refused.state,
        to_state=refused.state,
        data={"attempted": refused.action, "reasons": list(refused.about_actor)},
    )
    return True


def create_case(
    session: Session,
    *,
    definition: WorkflowDefinition,
    region_code: str,
    reference: str,
    actor: Actor,
    role: str,
    data: Mapping[str, Any],
    now: datetime,
    calendar: WorkCalendar,
    applicant_user_id: int | None = None,
    tracking_hash: str | None = None,
    state: str | None = None,
    audit_data: Mapping[str, Any] | None = None,
) -> Case:
    """Open a case in the definition's initial (or a declared entry) state, with its audit entry."""
    start = state or definition.initial
    if start != definition.initial and start not in definition.entry_states:
        raise InvalidInput(f"workflow {definition.key} cannot start in {start}")
    if definition.check_data is not None:
        definition.check_data(data)
    case = Case(
        workflow=definition.key,
        workflow_version=definition.version,
        reference=reference,
        tracking_hash=tracking_hash,
        region_code=region_code,
        township_code=township_of(region_code),
        county_code=county_of(region_code),
        state=start,
        version=1,
        entered_version=1,
        state_entered_at=now,
        deadline=None,
        applicant_user_id=applicant_user_id,
        created_by_user_id=actor.user_id,
        data=dict(data),
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    assert case.id is not None
    view_now = view(case)
    deadline = definition.deadline_for(start)
    if deadline is not None:
        case.deadline = calendar.due(now, deadline.delay(view_now))
    for timer in definition.timers_for(start):
        session.add(
            TimerRow(
                case_id=case.id,
                action=timer.action,
                state=start,
                entered_version=1,
                due_at=calendar.due(now, timer.delay(view_now)),
            )
        )
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role,
        action="create",
        region_code=region_code,
        case_id=case.id,
        from_state=None,
        to_state=start,
        data=dict(audit_data if audit_data is not None else {}),
    )
    session.flush()
    return case


# --------------------------------------------------------------------------- timers


@dataclass
class SweepResult:
    fired: int = 0
    void: int = 0
    refused: int = 0
    retried: int = 0
    errors: int = 0
    records: list[TransitionRecord] = field(default_factory=list)


Resolver = Callable[[Session, Case], tuple[WorkflowDefinition, WorkCalendar, Mapping[str, Any]]]
Listener = Callable[[Session, TransitionRecord], None]


def run_due(
    session_factory: Callable[[], Any],
    *,
    now: datetime,
    resolve: Resolver,
    on_fired: Listener | None = None,
    limit: int | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SweepResult:
    """Fire every timer due by `now`, in due order, each once, one transaction per timer.

    A timer whose case has since left the state it was set for is void. On PostgreSQL each
    timer row is claimed with FOR UPDATE SKIP LOCKED, so sweepers running at once share the work.
    """
    from engine.errors import GuardRejected  # local: only the sweep needs to tell guards apart

    result = SweepResult()
    skipped: set[int] = set()
    while limit is None or result.fired + result.void + result.refused < limit:
        with session_factory() as session:
            query = (
                select(TimerRow)
                .where(_timers.c.fired_at.is_(None), _timers.c.due_at <= now)
                .order_by(_timers.c.due_at, _timers.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if skipped:
                query = query.where(_timers.c.id.not_in(skipped))
            timer = session.scalars(query).first()
            if timer is None:
                return result
            wall = clock()
            case = session.get(Case, timer.case_id)
            assert case is not None
            if case.state != timer.state or case.entered_version != timer.entered_version:
                timer.fired_at, timer.outcome = wall, "void: the case has left the state"
                result.void += 1
                continue
            definition, calendar, facts = resolve(session, case)
            try:
                with session.begin_nested():
                    record = fire(
                        session,
                        case=case,
                        definition=definition,
                        action=timer.action,
                        actor=_system(),
                        data={},
                        expected_version=case.version,
                        now=timer.due_at,
                        calendar=calendar,
                        facts=facts,
                        due_at=timer.due_at,
                        recorded_at=wall,
                        audit_extra={
                            "timer": {
                                "id": timer.id,
                                "due": timer.due_at,
                                "swept_until": now,
                                "late": wall > timer.due_at,
                            }
                        },
                    )
                    if on_fired is not None:
                        on_fired(session, record)
            except StaleVersion:
                result.retried += 1
                assert timer.id is not None
                skipped.add(timer.id)
                continue
            except GuardRejected as refused:
                timer.fired_at, timer.outcome = wall, f"refused: {refused.detail}"[:500]
                result.refused += 1
                continue
            except Exception as exc:  # one broken timer must not hold up every timer due after it
                _log.exception("timer %s on case %s failed; it stays due and is tried again", timer.id, case.id)
                timer.outcome = f"error (will retry): {type(exc).__name__}: {exc}"[:500]
                result.errors += 1
                assert timer.id is not None
                skipped.add(timer.id)
                continue
            timer.fired_at, timer.outcome = wall, "fired"
            result.fired += 1
            result.records.append(record)
    return result


def _system() -> Actor:
    from engine.access import SYSTEM

    return SYSTEM
