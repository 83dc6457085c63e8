"""低保 / 特困 standard application: village review, the notice stages (三榜 by default), the township's
review and decision; then the active beneficiary's reviews and exit (workflows.review)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from engine.access import Role
from engine.calendar import SHANGHAI, Delay, Unit
from engine.definition import (
    CaseView,
    Deadline,
    GuardContext,
    Timer,
    Transition,
    WorkflowDefinition,
    transition,
    validate,
)
from workflows import aidtypes, casefile, review
from workflows import guards as g
from workflows.common import (
    CLOSE_NOTICE,
    OBJECTION_REVIEW,
    appended,
    flag_by_state,
    notice_timer,
    objection_transitions,
    official,
    record_reason,
    stamp,
)
from workflows.spec import StandardSpec

DRAFT = "draft"
VILLAGE_REVIEW = "village_review"
TOWNSHIP_REVIEW = "township_review"
TOWNSHIP_APPROVAL = "township_approval"
AWAITING_INFO = "awaiting_info"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

# The review each notice slot follows, and where a clean notice leads.
_BEFORE = {"village": VILLAGE_REVIEW, "township": TOWNSHIP_REVIEW, "final": TOWNSHIP_APPROVAL}
_AFTER = {"village": TOWNSHIP_REVIEW, "township": TOWNSHIP_APPROVAL, "final": review.ACTIVE}

LABELS = {
    DRAFT: "草稿 / draft",
    VILLAGE_REVIEW: "村级入户调查与评议 / village review",
    "notice_village": "初榜公示 / first notice",
    TOWNSHIP_REVIEW: "乡镇审核 / township review",
    "notice_township": "二榜公示 / second notice",
    TOWNSHIP_APPROVAL: "乡镇审批 / township decision",
    "notice_final": "定榜公示 / final notice",
    AWAITING_INFO: "待补正材料 / awaiting information",
    OBJECTION_REVIEW: "异议核查 / objection under review",
    REJECTED: "不予批准 / refused",
    WITHDRAWN: "已撤回 / withdrawn",
    **review.LABELS,
}

_OFFICERS = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER)
# The breach a missed clock records, by the state it was missed in.
OVERDUE_KINDS = {
    VILLAGE_REVIEW: "investigation_overdue",
    TOWNSHIP_REVIEW: "opinion_overdue",
    TOWNSHIP_APPROVAL: "decision_overdue",
    OBJECTION_REVIEW: "objection_overdue",
}


def _submitted(ctx: GuardContext) -> Mapping[str, Any]:
    return {"submitted": stamp(ctx)}


def _village_passed(ctx: GuardContext) -> Mapping[str, Any]:
    d = ctx.data
    return {
        "village_pass": stamp(
            ctx,
            investigators=list(d.get("investigators") or []),
            visit_date=d.get("visit_date"),
            appraisal=d.get("appraisal"),
            proposed_monthly_fen=d.get("proposed_monthly_fen"),
        ),
        "proposed_monthly_fen": d.get("proposed_monthly_fen"),
        # the investigators did the village review as much as whoever forwards it
        "village_actors": list(
            dict.fromkeys([*(ctx.case.data.get("village_actors") or []), ctx.actor.username, *_investigators(d)])
        ),
    }


def _investigators(data: Mapping[str, Any]) -> list[str]:
    found = data.get("investigators")
    return [str(name) for name in found] if isinstance(found, list) else []


def _township_passed(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "township_pass": stamp(ctx, opinion=str(ctx.data.get("opinion", "")).strip()),
        "township_actors": appended(ctx, "township_actors", ctx.actor.username),
        "township_passers": appended(ctx, "township_passers", ctx.actor.username),
    }


def _returned(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "returned": stamp(ctx, reason=str(ctx.data.get("reason", "")).strip()),
        "township_actors": appended(ctx, "township_actors", ctx.actor.username),
    }


def _info_requested(ctx: GuardContext) -> Mapping[str, Any]:
    actors = "village_actors" if ctx.case.state == VILLAGE_REVIEW else "township_actors"
    return {
        "info_request": stamp(
            ctx, missing=list(ctx.data.get("missing") or []), due=ctx.data.get("due"), from_state=ctx.case.state
        ),
        actors: appended(ctx, actors, ctx.actor.username),
    }


def _info_provided(ctx: GuardContext) -> Mapping[str, Any]:
    asked = dict(ctx.case.data.get("info_request") or {})
    return {"info_request": None, "info_requests": appended(ctx, "info_requests", {**asked, "answered": stamp(ctx)})}


def _back_to_asker(ctx: GuardContext) -> str:
    asked = ctx.case.data.get("info_request") or {}
    return str(asked.get("from_state", VILLAGE_REVIEW))


def _info_due(case: CaseView) -> Delay:
    """Until the end (Asia/Shanghai) of the day the request named."""
    asked = case.data.get("info_request") or {}
    try:
        day = datetime.fromisoformat(str(asked.get("due"))).date()
    except ValueError:
        return Delay(0, Unit.HOURS)
    end = datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI)
    seconds = int((end - case.state_entered_at).total_seconds())  # due within the second before the end
    return Delay(max(seconds, 0), Unit.SECONDS)


def _decided(dest: str) -> Any:
    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        d = ctx.data
        terms = {k: d.get(k) for k in aidtypes.of_case(ctx.case.data).decision_terms}
        patch: dict[str, Any] = {
            "approval": stamp(
                ctx, monthly_amount_fen=d.get("monthly_amount_fen"), mode=d.get("mode", "household"), **terms
            ),
            "monthly_amount_fen": d.get("monthly_amount_fen"),
            "mode": d.get("mode", "household"),
            **terms,
            "review_class": review.review_class(ctx.case.data),
        }
        if dest == review.ACTIVE:
            patch.update(review.activated(ctx))
        return patch

    return effect


def _county_visited(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "county_visit": stamp(
            ctx, visit_date=ctx.data.get("visit_date"), findings=str(ctx.data.get("findings", "")).strip()
        )
    }


def build(spec: StandardSpec) -> WorkflowDefinition:
    """The standard application under a spec: its notice stages decide which notice states exist."""
    slots = {n.name: n for n in spec.notices}

    def after(slot: str) -> str:
        return slots[slot].state if slot in slots else _AFTER[slot]

    notice_states = tuple(n.state for n in spec.notices)
    approver = (spec.approval_role,)
    township = (Role.TOWNSHIP_OFFICER,)
    pre_decision = (VILLAGE_REVIEW, AWAITING_INFO, *notice_states, TOWNSHIP_REVIEW, TOWNSHIP_APPROVAL)
    if notice_states:
        pre_decision = (*pre_decision, OBJECTION_REVIEW)

    transitions: list[Transition] = [
        transition(
            "submit",
            DRAFT,
            VILLAGE_REVIEW,
            by=[Role.APPLICANT, *_OFFICERS],
            guards=[g.household_identities],
            effect=_submitted,
            label="提交申请 / submit",
        ),
        official(
            "village_pass",
            VILLAGE_REVIEW,
            after("village"),
            by=_OFFICERS,
            guards=(
                g.not_township_actor,
                g.household_identities,
                g.investigators,
                g.appraisal_tally,
                aidtypes.eligible,
                aidtypes.proposed_amount,
            ),
            effect=_village_passed,
            label="村级评议通过 / village review passed",
        ),
        official(
            "village_reject",
            VILLAGE_REVIEW,
            REJECTED,
            by=_OFFICERS,
            guards=(g.not_township_actor, g.written_reason, aidtypes.refusal_terms),
            effect=aidtypes.refused,
            label="村级评议不通过 / refused at village review",
        ),
        official(
            "request_info",
            VILLAGE_REVIEW,
            AWAITING_INFO,
            by=_OFFICERS,
            guards=(g.not_township_actor, g.complete_missing_list),
            effect=_info_requested,
            label="一次性告知补正 / request missing information",
        ),
        official(
            "request_info",
            TOWNSHIP_REVIEW,
            AWAITING_INFO,
            by=township,
            guards=(g.not_village_actor, g.complete_missing_list),
            effect=_info_requested,
            label="一次性告知补正 / request missing information",
        ),
        transition(
            "provide_info",
            AWAITING_INFO,
            None,
            by=[Role.APPLICANT, *_OFFICERS],
            choose_dest=_back_to_asker,
            dests=(VILLAGE_REVIEW, TOWNSHIP_REVIEW),
            effect=_info_provided,
            label="已补正 / information provided",
        ),
        official(
            "township_pass",
            TOWNSHIP_REVIEW,
            after("township"),
            by=township,
            guards=(g.not_village_actor, g.written_opinion),
            effect=_township_passed,
            label="乡镇审核通过 / township review passed",
        ),
        official(
            "township_reject",
            TOWNSHIP_REVIEW,
            REJECTED,
            by=township,
            guards=(g.not_village_actor, g.written_reason, aidtypes.refusal_terms),
            effect=aidtypes.refused,
            label="乡镇审核不通过 / refused at township review",
        ),
        official(
            "return_to_village",
            TOWNSHIP_REVIEW,
            VILLAGE_REVIEW,
            by=township,
            guards=(g.not_village_actor, g.written_reason),
            effect=_returned,
            label="退回村级重新调查 / returned to the village",
        ),
        official(
            "record_county_visit",
            (TOWNSHIP_REVIEW, *((slots["township"].state,) if "township" in slots else ()), TOWNSHIP_APPROVAL),
            None,
            by=(Role.COUNTY_OFFICER,),
            guards=(g.county_visit_record,),
            effect=_county_visited,
            label="县级入户核查 / county house visit",
            queued=False,  # due on filed relatives' cases only; the queue cannot tell them apart
        ),
        official(
            "approve",
            TOWNSHIP_APPROVAL,
            after("final"),
            by=approver,
            guards=(
                g.not_village_actor,
                g.not_township_passer,
                g.county_visit_done,
                g.household_identities,
                aidtypes.eligible,
                aidtypes.decision_terms,
            ),
            effect=_decided(after("final")),
            label="审批通过 / approved",
        ),
        official(
            "deny",
            TOWNSHIP_APPROVAL,
            REJECTED,
            by=approver,
            guards=(g.not_village_actor, g.not_township_passer, g.written_reason, aidtypes.refusal_terms),
            effect=aidtypes.refused,
            label="审批不予批准 / refused",
        ),
        transition(
            "withdraw",
            (DRAFT, *pre_decision),
            WITHDRAWN,
            by=[Role.APPLICANT, *_OFFICERS],
            guards=[g.applicant_or_filer],
            effect=record_reason("withdrawal"),
            label="撤回 / withdrawn",
            queued=False,
        ),
    ]
    for n in spec.notices:
        effect = review.activated_effect if _AFTER[n.name] == review.ACTIVE else None
        transitions.append(
            transition(
                CLOSE_NOTICE,
                n.state,
                _AFTER[n.name],
                by=[Role.SYSTEM],
                effect=effect,
                label=f"{n.label}期满 / notice ended",
            )
        )
    termination = spec.termination_notice if spec.termination_notice_for else None
    transitions.extend(review.transitions(spec, termination))
    notices = {n.state: _BEFORE[n.name] for n in spec.notices}
    if termination is not None:
        notices[termination.state] = review.UNDER_REVIEW
    if notices:
        transitions.extend(objection_transitions(notices, handlers=township))
    objection_clock = spec.objection_review if notices else None
    investigation = spec.investigation
    transitions.append(
        transition(
            "flag_overdue",
            (
                *((VILLAGE_REVIEW,) if investigation else ()),
                TOWNSHIP_REVIEW,
                TOWNSHIP_APPROVAL,
                *((OBJECTION_REVIEW,) if objection_clock else ()),
            ),
            None,
            by=[Role.SYSTEM],
            effect=flag_by_state(OVERDUE_KINDS),
            label="办理超期 / deadline missed",
        )
    )

    timers: list[Timer] = [notice_timer(n) for n in spec.notices]
    timers += [
        Timer(TOWNSHIP_REVIEW, "flag_overdue", lambda _c: spec.township_opinion),
        Timer(TOWNSHIP_APPROVAL, "flag_overdue", lambda _c: spec.decision_after_notice),
        *review.timers(spec, termination),
    ]
    deadlines = [
        Deadline(TOWNSHIP_REVIEW, lambda _c: spec.township_opinion),
        Deadline(TOWNSHIP_APPROVAL, lambda _c: spec.decision_after_notice),
        Deadline(AWAITING_INFO, _info_due),
    ]
    if investigation is not None:
        # T3: the investigation is due within its working days of acceptance (the submission).
        timers.append(Timer(VILLAGE_REVIEW, "flag_overdue", lambda _c: investigation))
        deadlines.append(Deadline(VILLAGE_REVIEW, lambda _c: investigation))
    if objection_clock is not None:
        clock = objection_clock
        timers.append(Timer(OBJECTION_REVIEW, "flag_overdue", lambda _c: clock))
        deadlines.append(Deadline(OBJECTION_REVIEW, lambda _c: clock))
    states = (
        DRAFT,
        VILLAGE_REVIEW,
        TOWNSHIP_REVIEW,
        TOWNSHIP_APPROVAL,
        *notice_states,
        AWAITING_INFO,
        *((OBJECTION_REVIEW,) if notices else ()),
        *review.states(spec, termination),
        REJECTED,
        WITHDRAWN,
    )
    labels = dict(LABELS)
    labels.update({n.state: n.label for n in spec.notices})
    if termination is not None:
        labels[termination.state] = termination.label
    return validate(
        WorkflowDefinition(
            key=StandardSpec.key,
            version=spec.version,
            states=states,
            initial=DRAFT,
            terminal=frozenset({REJECTED, WITHDRAWN, review.EXITED}),
            transitions=tuple(transitions),
            timers=tuple(timers),
            deadlines=tuple(deadlines),
            labels=labels,
            title="低保/特困审核确认 / minimum living allowance and extreme-poverty support",
            check_data=casefile.check,
        )
    )
