"""A definition is checked when it is loaded, and every problem is named."""

from __future__ import annotations

import dataclasses

import pytest

from engine.access import Role
from engine.calendar import Delay, Unit
from engine.definition import Timer, Transition, WorkflowDefinition, transition, validate
from engine.errors import DefinitionInvalid
from tests.engine.toy import TOY


def _with(**changes: object) -> WorkflowDefinition:
    return dataclasses.replace(TOY, **changes)  # type: ignore[arg-type]


def _plus(*extra: Transition) -> tuple[Transition, ...]:
    return (*TOY.transitions, *extra)


def _problems(definition: WorkflowDefinition) -> str:
    with pytest.raises(DefinitionInvalid) as caught:
        validate(definition)
    return caught.value.detail


def test_the_toy_workflow_is_valid_and_validate_returns_it_unchanged() -> None:
    assert validate(TOY) is TOY


def test_a_state_that_no_transition_reaches_is_named() -> None:
    detail = _problems(_with(states=(*TOY.states, "limbo")))
    assert "state 'limbo' cannot be reached" in detail


def test_a_state_reached_only_from_an_unreachable_state_is_named_too() -> None:
    detail = _problems(
        _with(
            states=(*TOY.states, "limbo", "beyond"),
            transitions=_plus(transition("onward", "limbo", "beyond", by=[Role.ADMIN])),
        )
    )
    assert "state 'limbo' cannot be reached" in detail
    assert "state 'beyond' cannot be reached" in detail


def test_an_entry_state_counts_as_reachable() -> None:
    assert validate(_with(states=(*TOY.states, "intake"), entry_states=frozenset({"intake"})))


def test_a_terminal_state_with_an_exit_is_named() -> None:
    detail = _problems(_with(transitions=_plus(transition("reopen", "done", "review", by=[Role.ADMIN]))))
    assert "terminal state 'done' has an exit 'reopen'" in detail


def test_a_transition_that_names_no_role_is_named() -> None:
    detail = _problems(_with(transitions=_plus(transition("nudge", "review", "notice", by=[]))))
    assert "transition 'nudge' names no role that may fire it" in detail


def test_the_same_action_declared_twice_from_one_state_is_named() -> None:
    detail = _problems(_with(transitions=_plus(transition("pass", "review", "rejected", by=[Role.VILLAGE_OFFICER]))))
    assert "action 'pass' is declared twice from state 'review'" in detail


def test_the_same_action_from_two_different_states_is_allowed() -> None:
    assert validate(TOY).transition_from("review", "reject") is TOY.transition_from("decision", "reject")


def test_a_timer_whose_action_is_not_available_in_its_state_is_named() -> None:
    detail = _problems(_with(timers=(*TOY.timers, Timer("review", "notice_ends", lambda c: Delay(3)))))
    assert "timer in 'review' fires 'notice_ends', which does not leave it" in detail


def test_a_timer_whose_action_the_system_may_not_fire_is_named() -> None:
    # The sweep fires as the system: such a timer would be refused at every sweep, forever.
    detail = _problems(_with(timers=(*TOY.timers, Timer("decision", "approve", lambda c: Delay(3)))))
    assert "timer in 'decision' fires 'approve', which the system may not fire" in detail


def test_a_timer_firing_an_internal_action_of_its_state_is_allowed() -> None:
    flag = TOY.transition_from("decision", "flag_overdue")
    assert flag is not None
    assert flag.internal
    assert any(t.action == "flag_overdue" for t in validate(TOY).timers_for("decision"))


def test_undeclared_states_are_named_wherever_they_appear() -> None:
    detail = _problems(
        _with(
            initial="nowhere",
            terminal=frozenset({"done", "gone"}),
            transitions=_plus(transition("vanish", "review", "void", by=[Role.ADMIN])),
        )
    )
    assert "initial state 'nowhere' is not declared" in detail
    assert "state 'gone' is not declared" in detail
    assert "transition 'vanish' uses undeclared state 'void'" in detail


def test_every_problem_is_reported_at_once_with_the_workflow_named() -> None:
    detail = _problems(
        _with(
            states=(*TOY.states, "limbo"),
            transitions=_plus(
                transition("nudge", "review", "notice", by=[]),
                transition("reopen", "done", "review", by=[Role.ADMIN]),
            ),
        )
    )
    assert detail.startswith("workflow toy v1: ")
    parts = detail.removeprefix("workflow toy v1: ").split("; ")
    assert sorted(parts) == sorted(
        [
            "transition 'nudge' names no role that may fire it",
            "terminal state 'done' has an exit 'reopen'",
            "state 'limbo' cannot be reached",
        ]
    )


def test_a_transition_choosing_its_destination_must_declare_the_choices() -> None:
    def back(ctx: object) -> str:
        return "review"

    chooser = Transition("back", ("decision",), None, frozenset({Role.ADMIN}), choose_dest=back)  # type: ignore[arg-type]
    detail = _problems(_with(transitions=_plus(chooser)))
    assert "transition 'back' chooses its destination but declares none" in detail


def test_a_delay_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        Delay(-1, Unit.DAYS)
