"""Pieces every aid workflow shares: the acts' records in case data, notices and their objections."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.access import Role
from engine.calendar import Delay
from engine.definition import CaseView, Effect, GuardContext, Timer, Transition, transition
from workflows import guards as g
from workflows.policy import NoticeStage

OBJECTION_REVIEW = "objection_review"
OBJECT = "raise_objection"
CLOSE_NOTICE = "close_notice"


def stamp(ctx: GuardContext, **extra: Any) -> dict[str, Any]:
    """Who did it, as whom, when: the record kept in case data for each decisive act."""
    return {"by": ctx.actor.username, "role": ctx.role, "at": ctx.now.isoformat(), **extra}


def appended(ctx: GuardContext, key: str, item: Any) -> list[Any]:
    return [*(ctx.case.data.get(key) or []), item]


def flag(kind: str) -> Effect:
    """A breach recorded on the case (also an audit entry, since a transition records it)."""

    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        return {"flags": appended(ctx, "flags", {"kind": kind, "state": ctx.case.state, "at": ctx.now.isoformat()})}

    return effect


def flag_by_state(kinds: Mapping[str, str]) -> Effect:
    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        kind = kinds.get(ctx.case.state, "overdue")
        return flag(kind)(ctx)

    return effect


def record_reason(key: str) -> Effect:
    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        return {key: stamp(ctx, reason=str(ctx.data.get("reason", "")).strip())}

    return effect


def official(
    action: str,
    source: str | tuple[str, ...],
    dest: str | None,
    *,
    by: tuple[str, ...] | list[str],
    guards: tuple[Callable[[GuardContext], Any], ...] = (),
    **kw: Any,
) -> Transition:
    """An official's act: every such act is refused to an official related to the household."""
    return transition(action, source, dest, by=by, guards=(g.not_recused, *guards), **kw)


def notice_timer(stage: NoticeStage) -> Timer:
    def delay(_case: CaseView) -> Delay:
        return stage.delay

    return Timer(stage.state, CLOSE_NOTICE, delay)


def objection_transitions(
    notices: Mapping[str, str], *, handlers: tuple[str, ...], upheld_dests: Mapping[str, str] | None = None
) -> tuple[Transition, ...]:
    """Anyone may object during a notice: the case waits in objection_review (its notice clock stops);
    dismissing it posts a fresh notice of the same stage, upholding it returns to the review before.

    `notices` maps each notice state to the review state before it; `upheld_dests` may send an upheld
    objection elsewhere (the emergency channel has no review before its notice after the fact).
    """
    before = dict(notices)
    upheld = dict(upheld_dests or before)

    def stage_of(ctx: GuardContext) -> str:
        objection = ctx.case.data.get("objection") or {}
        return str(objection.get("stage", ""))

    def received(ctx: GuardContext) -> Mapping[str, Any]:
        return {
            "objection": {
                "stage": ctx.case.state,
                "notice_id": ctx.data.get("notice_id"),
                "objection_id": ctx.data.get("objection_id"),
                "at": ctx.now.isoformat(),
            }
        }

    def decided(outcome: str) -> Effect:
        def effect(ctx: GuardContext) -> Mapping[str, Any]:
            objection = dict(ctx.case.data.get("objection") or {})
            done = {
                **objection,
                "outcome": outcome,
                "finding": str(ctx.data.get("finding", "")).strip(),
                "by": ctx.actor.username,
                "decided_at": ctx.now.isoformat(),
            }
            return {"objection": None, "objections": appended(ctx, "objections", done)}

        return effect

    return (
        transition(
            OBJECT, tuple(before), OBJECTION_REVIEW, by=[Role.PUBLIC], effect=received, label="提出异议 / objection"
        ),
        official(
            "dismiss_objection",
            OBJECTION_REVIEW,
            None,
            by=handlers,
            guards=(g.not_challenged, g.written_finding),
            choose_dest=stage_of,
            dests=tuple(before),
            effect=decided("dismissed"),
            label="异议不成立，重新公示 / objection dismissed: a fresh notice",
        ),
        official(
            "uphold_objection",
            OBJECTION_REVIEW,
            None,
            by=handlers,
            guards=(g.not_challenged, g.written_finding),
            choose_dest=lambda ctx: upheld[stage_of(ctx)],
            dests=tuple(dict.fromkeys(upheld.values())),
            effect=decided("upheld"),
            label="异议成立，退回重审 / objection upheld: back to review",
        ),
    )
