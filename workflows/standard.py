"""低保 / 特困 standard application: village review, the notice stages (三榜 by default), the township's
review and decision; then the active beneficiary's reviews and exit (workflows.review)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, time
from typing import Any

from engine.access import Role
from engine.calendar import SHANGHAI, Delay, Unit, WorkCalendar
from engine.definition import (
    CaseView,
    Deadline,
    Effect,
    GuardContext,
    Timer,
    Transition,
    WorkflowDefinition,
    transition,
    validate,
)
from workflows import aidtypes, casefile, clocks, review, verification
from workflows import guards as g
from workflows.common import (
    CLOSE_NOTICE,
    OBJECTION_REVIEW,
    appended,
    flag,
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

# Before the decision, off notice: the whole case's clock (P9) runs.
UNDECIDED = (VILLAGE_REVIEW, AWAITING_INFO, TOWNSHIP_REVIEW, TOWNSHIP_APPROVAL, OBJECTION_REVIEW)

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
# The clocks that run from acceptance are flagged once a case, however often it comes back to the state.
_ONCE_KINDS = ("investigation_overdue", "opinion_overdue")
TOTAL_OVERDUE = "total_overdue"  # P9: the whole case not decided in time
UNDELIVERED = "refusal_undelivered"  # P11: a refusal's written reasons not delivered in time


def _submitted(ctx: GuardContext) -> Mapping[str, Any]:
    # 受理 is the submission itself: the township's clocks (P6, P9) run from it, and it asks the
    # county's checking body for its report (P4).
    return {
        "submitted": stamp(ctx),
        "accepted_at": ctx.now.isoformat(),
        "verification": verification.requested(ctx),
    }


def _flagged_once(ctx: GuardContext) -> Any:
    kind = OVERDUE_KINDS.get(ctx.case.state, "")
    if kind in _ONCE_KINDS and any(f.get("kind") == kind for f in ctx.case.data.get("flags") or []):
        yield f"已记录超期 / {kind} is already flagged on this case"


def _calendar(ctx: GuardContext) -> WorkCalendar:
    found = ctx.facts.get("calendar")
    return found if isinstance(found, WorkCalendar) else WorkCalendar()


def _then(first: Effect | None, second: Effect) -> Effect:
    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        return {**(first(ctx) if first is not None else {}), **second(ctx)}

    return effect


def _appeal(ctx: GuardContext) -> dict[str, Any]:
    """P12: the routes of appeal and their windows, as the decision record carries them."""
    rules = g.rules_of(ctx)
    return {
        "review_days": rules.appeal_review_days,
        "lawsuit_months": rules.appeal_lawsuit_months,
        "review_body": rules.appeal_review_body,
    }


def _refused(ctx: GuardContext) -> Mapping[str, Any]:
    """A refusal (不予受理, the township's or the decision's): its written reason, the appeal window, and what
    the aid type adds (E3: the margin category)."""
    patch = dict(aidtypes.refused(ctx))
    patch["refusal"] = {**stamp(ctx, reason=str(ctx.data.get("reason", "")).strip()), "appeal": _appeal(ctx)}
    return patch


def _extension_once(ctx: GuardContext) -> Any:
    if clocks.extended(ctx.case.data):
        yield "办结时限已延长过一次 / the case's time limit has already been extended once"


def _extended(ctx: GuardContext) -> Mapping[str, Any]:
    return {"deadline_extension": stamp(ctx, reason=str(ctx.data.get("reason", "")).strip())}


def _delivered(ctx: GuardContext) -> Mapping[str, Any]:
    d = ctx.data
    return {"delivery": stamp(ctx, delivered_on=d.get("delivered_on"), method=str(d.get("method", "")).strip())}


def _not_delivered(ctx: GuardContext) -> Any:
    if ctx.case.data.get("delivery"):
        yield "不予批准决定书已送达 / the written refusal has been delivered"


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


_RULES_OF = {
    "tekun": ("《特困人员认定办法》（民发〔2021〕43号）", "the 2021 rules on extreme-poverty support (MCA 43)"),
}
_DIBAO_RULES = ("《最低生活保障审核确认办法》（民发〔2021〕57号）", "the 2021 dibao confirmation rules (MCA 57)")


def _written_basis(ctx: GuardContext) -> str:
    """The decision's written basis when the official gives none: the rules, the local standard and the
    household's counted income it was decided on (every decision records one)."""
    rules = g.rules_of(ctx)
    people = max(1, len(g.members(ctx.case.data)))
    per_head = g.figures(ctx.case.data).income_fen / people / 100
    zh, en = _RULES_OF.get(str(ctx.case.data.get("aid_type")), _DIBAO_RULES)
    standard = rules.dibao_standard_fen / 100
    return (
        f"依据{zh}及当地低保标准每人每月 {standard:.2f} 元：家庭月人均收入 {per_head:.2f} 元，"
        f"经入户调查、家庭经济状况核对和公示无异议 / under {en} and the local standard of {standard:.2f} yuan a "
        f"person a month: per-capita monthly income {per_head:.2f} yuan, after the house visit, the cross-check "
        "and a notice without objection"
    )


def _decided(dest: str) -> Any:
    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        d = ctx.data
        terms = {k: d.get(k) for k in aidtypes.of_case(ctx.case.data).decision_terms}
        patch: dict[str, Any] = {
            "approval": stamp(
                ctx,
                monthly_amount_fen=d.get("monthly_amount_fen"),
                mode=d.get("mode", "household"),
                basis=str(d.get("basis", "")).strip() or _written_basis(ctx),
                appeal=_appeal(ctx),
                **terms,
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
            # P2 不予受理: the township's, with a written reason; the village never decides.
            "village_reject",
            VILLAGE_REVIEW,
            REJECTED,
            by=township,
            guards=(g.not_village_actor, g.written_reason, aidtypes.refusal_terms),
            effect=_refused,
            label="不予受理 / not accepted",
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
            guards=(g.not_village_actor, g.written_opinion, verification.ready_for_opinion),
            effect=_township_passed,
            label="乡镇审核通过 / township review passed",
        ),
        official(
            "township_reject",
            TOWNSHIP_REVIEW,
            REJECTED,
            by=township,
            guards=(g.not_village_actor, g.written_reason, aidtypes.refusal_terms),
            effect=_refused,
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
                verification.not_disputed,
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
            effect=_refused,
            label="审批不予批准 / refused",
        ),
        official(
            "extend_deadline",
            tuple(s for s in pre_decision if s != after("final")),  # before the decision
            None,
            by=township,
            guards=(g.written_reason, _extension_once),
            effect=_extended,
            rearms=("flag_total_overdue",),
            label="延长办结时限 / time limit extended",
            queued=False,
        ),
        official(
            "record_delivery",
            REJECTED,
            None,
            by=township,
            guards=(g.delivery_record, _not_delivered),
            effect=_delivered,
            label="送达不予批准决定书 / written refusal delivered",
            queued=False,
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
                effect=_then(effect, clocks.notice_left),
                label=f"{n.label}期满 / notice ended",
            )
        )
    termination = spec.termination_notice if spec.termination_notice_for else None
    transitions.extend(review.transitions(spec, termination))
    # 核对 (P4): asked for at acceptance and when a review starts, recorded and disputed while the case is open.
    review_states = tuple(s for s in (review.UNDER_REVIEW, review.SUSPENDED) if s in review.states(spec, termination))
    asked_on_entry = (VILLAGE_REVIEW, review.UNDER_REVIEW)
    transitions.extend(verification.transitions((*pre_decision, *review_states), asked_on_entry))
    notices = {n.state: _BEFORE[n.name] for n in spec.notices}
    if termination is not None:
        notices[termination.state] = review.UNDER_REVIEW
    if notices:
        for t in objection_transitions(notices, handlers=township):
            if set(t.source) & set(notice_states):  # an objection stops a notice: its time so far is kept
                t = replace(t, effect=_then(t.effect, clocks.notice_left))
            transitions.append(t)
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
            guards=[_flagged_once],
            effect=flag_by_state(OVERDUE_KINDS),
            label="办理超期 / deadline missed",
        )
    )
    running = (
        VILLAGE_REVIEW,
        AWAITING_INFO,
        TOWNSHIP_REVIEW,
        TOWNSHIP_APPROVAL,
        *((OBJECTION_REVIEW,) if notices else ()),
    )
    total, total_extended = spec.total, spec.total_extended
    if total is not None:
        whole = total

        def total_due(case: CaseView, calendar: WorkCalendar) -> datetime:
            return clocks.from_acceptance(case, calendar, clocks.total_delay(case.data, whole, total_extended))

        def total_passed(ctx: GuardContext) -> Any:
            if any(f.get("kind") == TOTAL_OVERDUE for f in ctx.case.data.get("flags") or []):
                yield "已记录办结超期 / the whole case is already flagged overdue"
            elif ctx.case.data.get("approval"):
                yield "已作出审批决定 / the case has been decided"
            elif ctx.now < total_due(ctx.case, _calendar(ctx)):
                yield "办结时限未到（已延长）/ the case's time limit has not run out (it was extended)"

        transitions.append(
            transition(
                "flag_total_overdue",
                running,
                None,
                by=[Role.SYSTEM],
                guards=[total_passed],
                effect=flag(TOTAL_OVERDUE),
                label="办结超期 / the whole case past its time limit",
            )
        )
    if spec.rejection_notice is not None:
        transitions.append(
            transition(
                "flag_undelivered",
                REJECTED,
                None,
                by=[Role.SYSTEM],
                guards=[_not_delivered],
                effect=flag(UNDELIVERED),
                label="决定书未按时送达 / written refusal not delivered in time",
            )
        )

    timers: list[Timer] = [notice_timer(n) for n in spec.notices]
    opinion = spec.township_opinion

    def opinion_due(case: CaseView, calendar: WorkCalendar) -> datetime:
        # P6: the township's opinion runs from acceptance, not from the case reaching the township.
        return clocks.from_acceptance(case, calendar, opinion)

    timers += [
        Timer(TOWNSHIP_REVIEW, "flag_overdue", lambda _c: opinion, due=opinion_due),
        Timer(TOWNSHIP_APPROVAL, "flag_overdue", lambda _c: spec.decision_after_notice),
        *review.timers(spec, termination),
        *verification.timers(spec.verification_start, asked_on_entry),
    ]
    if total is not None:
        timers += [Timer(state, "flag_total_overdue", lambda _c: whole, due=total_due) for state in running]
    if spec.rejection_notice is not None:
        delivery = spec.rejection_notice
        timers.append(Timer(REJECTED, "flag_undelivered", lambda _c: delivery))
    deadlines = [
        Deadline(TOWNSHIP_REVIEW, lambda _c: opinion, due=opinion_due),
        Deadline(TOWNSHIP_APPROVAL, lambda _c: spec.decision_after_notice),
        Deadline(AWAITING_INFO, _info_due),
    ]
    if investigation is not None:
        # T3: the investigation is due within its working days of acceptance (the submission).
        clock = investigation

        def investigation_due(case: CaseView, calendar: WorkCalendar) -> datetime:
            return clocks.from_acceptance(case, calendar, clock)

        timers.append(Timer(VILLAGE_REVIEW, "flag_overdue", lambda _c: clock, due=investigation_due))
        deadlines.append(Deadline(VILLAGE_REVIEW, lambda _c: clock, due=investigation_due))
    if objection_clock is not None:
        objection_delay = objection_clock
        timers.append(Timer(OBJECTION_REVIEW, "flag_overdue", lambda _c: objection_delay))
        deadlines.append(Deadline(OBJECTION_REVIEW, lambda _c: objection_delay))
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
