"""Compile a definition into one shared `transitions` machine and step cases through it.

One machine per definition, never one per case: a case is attached as a light model for the
duration of a single step and detached again.
"""

from __future__ import annotations

import threading
from typing import Any

from transitions import EventData, Machine, MachineError

from engine.definition import GuardContext, Transition, WorkflowDefinition, records_refusal
from engine.errors import GuardRejected, TransitionNotAllowed


class _Step:
    """The one model of a shared machine: put in a case's state, stepped, read back, under a lock."""

    state: str


def _selects(dest: str, rule: Transition) -> Any:
    def condition(event: EventData) -> bool:
        ctx: GuardContext = event.kwargs["ctx"]
        assert rule.choose_dest is not None
        return rule.choose_dest(ctx) == dest

    return condition


class CompiledWorkflow:
    """A definition compiled for stepping; thread-safe."""

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        self._machine = Machine(
            model=None,
            states=list(definition.states),
            initial=definition.initial,
            auto_transitions=False,
            ignore_invalid_triggers=False,
            send_event=True,
            model_attribute="state",
        )
        for t in definition.transitions:
            for src in t.source:
                if t.choose_dest is not None:
                    for dest in t.dests:
                        self._machine.add_transition(t.action, src, dest, conditions=[_selects(dest, t)])
                else:
                    self._machine.add_transition(t.action, src, t.dest)
        # Attached once: attaching and detaching a model per step costs more than the step itself.
        self._model = _Step()
        self._machine.add_model(self._model, initial=definition.initial)
        self._lock = threading.Lock()

    def check_guards(self, rule: Transition, ctx: GuardContext) -> None:
        """Run every guard and raise once with all their reasons."""
        reasons: list[str] = []
        about_actor: list[str] = []
        for guard in rule.guards:
            found = list(guard(ctx))
            reasons += found
            if records_refusal(guard):
                about_actor += found
        if reasons:
            raise GuardRejected(ctx.action, ctx.case.state, reasons, about_actor=about_actor)

    def step(self, state: str, action: str, ctx: GuardContext) -> str:
        """The state reached by firing `action` from `state` (guards are checked before this)."""
        event = self._machine.events.get(action)
        if event is None:
            raise TransitionNotAllowed(action, state)
        with self._lock:
            self._machine.set_state(state, model=self._model)
            try:
                moved = event.trigger(self._model, ctx=ctx)
            except MachineError as exc:
                raise TransitionNotAllowed(action, state) from exc
            reached = self._model.state
        if not moved:
            raise TransitionNotAllowed(action, state)
        return reached

    def diagram_mermaid(self) -> str:
        """The workflow as a mermaid state diagram (for pages and the README)."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.definition.initial}"]
        for t in self.definition.transitions:
            for src in t.source:
                for dest in t.destinations() or (src,):
                    lines.append(f"    {src} --> {dest}: {t.action}")
        lines.extend(f"    {s} --> [*]" for s in sorted(self.definition.terminal))
        return "\n".join(lines)


_compiled: dict[tuple[str, int], CompiledWorkflow] = {}
_compiled_lock = threading.Lock()


def compiled(definition: WorkflowDefinition) -> CompiledWorkflow:
    """The shared compiled machine of a definition (built once per key and version)."""
    key = (definition.key, definition.version)
    found = _compiled.get(key)
    if found is not None and found.definition is definition:
        return found
    with _compiled_lock:
        found = _compiled.get(key)
        if found is None or found.definition is not definition:
            found = CompiledWorkflow(definition)
            _compiled[key] = found
        return found
