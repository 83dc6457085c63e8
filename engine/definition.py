"""Workflow definitions: frozen, typed data validated when loaded."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from engine.access import Actor, Role
from engine.calendar import Delay, WorkCalendar
from engine.errors import DefinitionInvalid


@dataclass(frozen=True)
class CaseView:
    """What guards and effects may read of a case: a snapshot, never a live row."""

    id: int
    workflow: str
    workflow_version: int
    state: str
    version: int
    region_code: str
    data: Mapping[str, Any]
    applicant_user_id: int | None
    created_by_user_id: int | None
    state_entered_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class GuardContext:
    """Everything a guard needs; `facts` are looked up by the caller before firing (no I/O here)."""

    case: CaseView
    actor: Actor
    role: str
    action: str
    data: Mapping[str, Any]
    now: datetime
    facts: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


Guard = Callable[[GuardContext], Iterable[str]]
"""A guard returns the reasons it refuses (nothing when it allows)."""


def actor_guard(guard: Guard) -> Guard:
    """Mark a guard that judges only who acts (recusal, separation of duties), not the act's data:
    the engine also runs it when listing the actions a caller may fire."""
    guard.about_actor = True  # type: ignore[attr-defined]
    return guard


def judges_actor(guard: Guard) -> bool:
    return bool(getattr(guard, "about_actor", False))


def refusal_recorded(guard: Guard) -> Guard:
    """Mark an actor guard whose refusal is itself put on the audit trail (recusal, separation of
    duties: an attempt an inspector should see), as `actor_guard` does for listing actions."""
    guard.refusal_recorded = True  # type: ignore[attr-defined]
    return actor_guard(guard)


def records_refusal(guard: Guard) -> bool:
    return bool(getattr(guard, "refusal_recorded", False))


Effect = Callable[[GuardContext], Mapping[str, Any]]
"""An effect returns the keys to merge into the case's data when the transition is applied."""

DestinationRule = Callable[[GuardContext], str]
"""Chooses among a transition's declared destinations (for 'back to where it came from')."""

DelayRule = Callable[[CaseView], Delay]

DueRule = Callable[[CaseView, WorkCalendar], datetime]
"""When a clock that started before the state (at the acceptance, say) runs out, on the calendar."""


@dataclass(frozen=True)
class Transition:
    """One action: from which states, to where, who may fire it, and what must hold."""

    action: str
    source: tuple[str, ...]
    dest: str | None
    roles: frozenset[str]
    guards: tuple[Guard, ...] = ()
    effect: Effect | None = None
    choose_dest: DestinationRule | None = None
    dests: tuple[str, ...] = ()
    label: str = ""
    rearms: tuple[str, ...] = ()
    """For an act that stays in its state but moves a clock (an extension): the state's timers that
    fire these actions are set again from the case as the act leaves it."""
    queued: bool = True
    """Whether a case that allows this act belongs in the work queue of those who may fire it (an
    act open at any time, such as a withdrawal, does not make a case anyone's task)."""

    @property
    def internal(self) -> bool:
        """Stays in its state (a recorded act such as a breach flag or a note)."""
        return self.dest is None and self.choose_dest is None

    def destinations(self) -> tuple[str, ...]:
        if self.choose_dest is not None:
            return self.dests
        return () if self.dest is None else (self.dest,)


def transition(
    action: str,
    source: str | Iterable[str],
    dest: str | None,
    *,
    by: Iterable[str],
    guards: Iterable[Guard] = (),
    effect: Effect | None = None,
    choose_dest: DestinationRule | None = None,
    dests: Iterable[str] = (),
    label: str = "",
    queued: bool = True,
    rearms: Iterable[str] = (),
) -> Transition:
    """Declare a transition in the policy's words: `transition("approve", "x", "y", by=[...])`."""
    sources = (source,) if isinstance(source, str) else tuple(source)
    return Transition(
        action=action,
        source=sources,
        dest=dest,
        roles=frozenset(by),
        guards=tuple(guards),
        effect=effect,
        choose_dest=choose_dest,
        dests=tuple(dests),
        label=label,
        queued=queued,
        rearms=tuple(rearms),
    )


@dataclass(frozen=True)
class Timer:
    """On entering `state`, fire `action` as the system once `delay` has run."""

    state: str
    action: str
    delay: DelayRule
    due: DueRule | None = None
    """Instead of `delay` from entering the state: the due time itself (a clock started earlier)."""

    def due_at(self, case: CaseView, calendar: WorkCalendar) -> datetime:
        return self.due(case, calendar) if self.due else calendar.due(case.state_entered_at, self.delay(case))


@dataclass(frozen=True)
class Deadline:
    """While in `state`, the case is due for action within `delay` (shown in queues)."""

    state: str
    delay: DelayRule
    due: DueRule | None = None
    """Instead of `delay` from entering the state: the due time itself (a clock started earlier)."""

    def due_at(self, case: CaseView, calendar: WorkCalendar) -> datetime:
        return self.due(case, calendar) if self.due else calendar.due(case.state_entered_at, self.delay(case))


@dataclass(frozen=True)
class WorkflowDefinition:
    key: str
    version: int
    states: tuple[str, ...]
    initial: str
    terminal: frozenset[str]
    transitions: tuple[Transition, ...]
    timers: tuple[Timer, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    entry_states: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    title: str = ""
    # Checks a case's data before it is kept (on creation and after every effect); raises to refuse.
    check_data: Callable[[Mapping[str, Any]], object] | None = None

    def transitions_for(self, action: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if t.action == action)

    def transition_from(self, state: str, action: str) -> Transition | None:
        for t in self.transitions:
            if t.action == action and state in t.source:
                return t
        return None

    def available_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state in t.source)

    def actions(self) -> frozenset[str]:
        return frozenset(t.action for t in self.transitions)

    def timers_for(self, state: str) -> tuple[Timer, ...]:
        return tuple(t for t in self.timers if t.state == state)

    def deadline_for(self, state: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.state == state), None)

    def label(self, state: str) -> str:
        return self.labels.get(state, state)


def validate(definition: WorkflowDefinition) -> WorkflowDefinition:
    """Check a definition's shape; raise DefinitionInvalid listing every problem found."""
    problems: list[str] = []
    states = set(definition.states)
    if len(states) != len(definition.states):
        problems.append("duplicate state names")
    if definition.initial not in states:
        problems.append(f"initial state {definition.initial!r} is not declared")
    for name in definition.terminal | definition.entry_states:
        if name not in states:
            problems.append(f"state {name!r} is not declared")
    seen: set[tuple[str, str]] = set()
    for t in definition.transitions:
        if not t.roles:
            problems.append(f"transition {t.action!r} names no role that may fire it")
        if t.choose_dest is not None and not t.dests:
            problems.append(f"transition {t.action!r} chooses its destination but declares none")
        for name in (*t.source, *t.destinations()):
            if name not in states:
                problems.append(f"transition {t.action!r} uses undeclared state {name!r}")
        for src in t.source:
            if src in definition.terminal and not t.internal:  # a record (a delivery, a flag) may follow the end
                problems.append(f"terminal state {src!r} has an exit {t.action!r}")
            if (src, t.action) in seen:
                problems.append(f"action {t.action!r} is declared twice from state {src!r}")
            seen.add((src, t.action))
    for timer in definition.timers:
        fired = definition.transition_from(timer.state, timer.action)
        if timer.state not in states:
            problems.append(f"timer in undeclared state {timer.state!r}")
        elif fired is None:
            problems.append(f"timer in {timer.state!r} fires {timer.action!r}, which does not leave it")
        elif Role.SYSTEM not in fired.roles:
            # The sweep fires as the system; refused at every sweep, the timer would block those behind it.
            problems.append(f"timer in {timer.state!r} fires {timer.action!r}, which the system may not fire")
    problems.extend(_unreachable(definition))
    if problems:
        raise DefinitionInvalid(f"workflow {definition.key} v{definition.version}: " + "; ".join(problems))
    return definition


def _unreachable(definition: WorkflowDefinition) -> list[str]:
    reached = {definition.initial, *definition.entry_states}
    queue = deque(reached)
    while queue:
        state = queue.popleft()
        for t in definition.available_from(state):
            for dest in t.destinations():
                if dest not in reached:
                    reached.add(dest)
                    queue.append(dest)
    return [f"state {s!r} cannot be reached" for s in definition.states if s not in reached]
