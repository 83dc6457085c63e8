"""急难型临时救助, the fast channel: aid first from the township's reserve fund, paperwork after (K3).

Grants over the township's ceiling go to the county, which decides case by case (一事一议) and pays
from the county's own reserve fund account: the township's ceiling does not bind it, its balance does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from engine.access import Role
from engine.calendar import Delay, Unit
from engine.definition import CaseView, Deadline, GuardContext, Timer, WorkflowDefinition, transition, validate
from workflows import casefile
from workflows import guards as g
from workflows.common import (
    CLOSE_NOTICE,
    OBJECTION_REVIEW,
    flag,
    notice_timer,
    objection_transitions,
    official,
    record_reason,
    stamp,
)
from workflows.spec import EmergencySpec

DRAFT = "draft"
REPORTED = "emergency_reported"
COUNTY_APPROVAL = "county_emergency_approval"
PAID = "emergency_paid"
CLOSED = "closed"
REJECTED = "rejected"
CONVERTED = "converted"
RECOVERY = "recovery"
WITHDRAWN = "withdrawn"

LABELS = {
    DRAFT: "草稿 / draft",
    REPORTED: "急难救助待审批 / emergency reported",
    COUNTY_APPROVAL: "报县级审批 / referred to the county",
    PAID: "已先行救助，待补手续 / aid paid, paperwork due",
    "notice_post": "事后公示 / notice after the fact",
    OBJECTION_REVIEW: "异议核查 / objection under review",
    CLOSED: "已办结 / closed",
    REJECTED: "不予救助 / refused",
    CONVERTED: "已转为低保/特困申请 / converted to a standard application",
    RECOVERY: "异议成立，待追回 / objection upheld: aid to be recovered",
    WITHDRAWN: "已撤回 / withdrawn",
}


def _granted(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "grant": stamp(
            ctx, amount_fen=ctx.data.get("amount_fen"), county_override=ctx.data.get("county_override") is True
        )
    }


def _paperwork(ctx: GuardContext) -> Mapping[str, Any]:
    return {"paperwork": stamp(ctx, note=str(ctx.data.get("note", "")).strip())}


def _converted(ctx: GuardContext) -> Mapping[str, Any]:
    return {"converted_to": ctx.facts.get("converted_to")}


_SPANS = {Unit.SECONDS: 1, Unit.HOURS: 3600, Unit.DAYS: 86400}


def _left_of(first_aid: Delay) -> Callable[[CaseView], Delay]:
    """K4 counts from the report: a referral to the county does not restart the clock, so the county
    has what is left of it (nothing, if it has already run out)."""

    def left(case: CaseView) -> Delay:
        per = _SPANS.get(first_aid.unit)
        reported = (case.data.get("submitted") or {}).get("at")
        if per is None or not reported:
            return first_aid
        ends = datetime.fromisoformat(str(reported)) + timedelta(seconds=first_aid.amount * per)
        return Delay(max(int((ends - case.state_entered_at).total_seconds()), 0), Unit.SECONDS)

    return left


def build(spec: EmergencySpec) -> WorkflowDefinition:
    township, county = (Role.TOWNSHIP_OFFICER,), (Role.COUNTY_OFFICER,)
    post = spec.post_notice
    first_aid = spec.first_aid
    transitions = (
        transition(
            "submit",
            DRAFT,
            REPORTED,
            by=[Role.APPLICANT, Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER],
            guards=[g.household_identities],
            effect=lambda ctx: {"submitted": stamp(ctx)},
            label="报告急难情况 / emergency reported",
        ),
        official(
            "grant_emergency",
            REPORTED,
            PAID,
            by=township,
            guards=(g.emergency_grant,),
            effect=_granted,
            label="先行救助 / aid granted",
        ),
        official(
            "grant_emergency",
            COUNTY_APPROVAL,
            PAID,
            by=county,
            guards=(g.emergency_grant,),
            effect=_granted,
            label="县级批准救助 / aid granted by the county",
        ),
        official(
            "refer_to_county",
            REPORTED,
            COUNTY_APPROVAL,
            by=township,
            guards=(g.written_reason,),
            effect=record_reason("referral"),
            label="报县级审批 / referred to the county",
        ),
        official(
            "decline",
            REPORTED,
            REJECTED,
            by=township,
            guards=(g.written_reason,),
            effect=record_reason("refusal"),
            label="不予救助 / refused",
        ),
        official(
            "decline",
            COUNTY_APPROVAL,
            REJECTED,
            by=county,
            guards=(g.written_reason,),
            effect=record_reason("refusal"),
            label="不予救助 / refused",
        ),
        official(
            "convert_to_standard",
            (REPORTED, COUNTY_APPROVAL),
            CONVERTED,
            by=(*township, *county),
            effect=_converted,
            label="转为低保/特困申请 / converted to a standard application",
        ),
        official(
            "complete_paperwork",
            PAID,
            post.state,
            by=township,
            effect=_paperwork,
            label="补齐手续 / paperwork completed",
        ),
        transition(
            "flag_paperwork_overdue",
            PAID,
            None,
            by=[Role.SYSTEM],
            effect=flag("paperwork_overdue"),
            label="补办手续超期 / paperwork overdue",
        ),
        *(
            (
                transition(
                    "flag_first_aid_overdue",
                    (REPORTED, COUNTY_APPROVAL),
                    None,
                    by=[Role.SYSTEM],
                    effect=flag("first_aid_overdue"),
                    label="先行救助超时 / first aid overdue",
                ),
            )
            if first_aid
            else ()
        ),
        transition(CLOSE_NOTICE, post.state, CLOSED, by=[Role.SYSTEM], label="事后公示期满 / notice ended"),
        transition(
            "withdraw",
            (DRAFT, REPORTED),
            WITHDRAWN,
            by=[Role.APPLICANT, Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER],
            guards=[g.applicant_or_filer],
            effect=record_reason("withdrawal"),
            label="撤回 / withdrawn",
            queued=False,
        ),
        *objection_transitions({post.state: PAID}, handlers=township, upheld_dests={post.state: RECOVERY}),
    )
    labels = dict(LABELS)
    labels[post.state] = post.label
    return validate(
        WorkflowDefinition(
            key=EmergencySpec.key,
            version=spec.version,
            states=(
                DRAFT,
                REPORTED,
                COUNTY_APPROVAL,
                PAID,
                post.state,
                OBJECTION_REVIEW,
                CLOSED,
                REJECTED,
                CONVERTED,
                RECOVERY,
                WITHDRAWN,
            ),
            initial=DRAFT,
            terminal=frozenset({CLOSED, REJECTED, CONVERTED, RECOVERY, WITHDRAWN}),
            transitions=transitions,
            timers=(
                Timer(PAID, "flag_paperwork_overdue", lambda _c: spec.paperwork),
                notice_timer(post),
                # K4: a referral does not stop the clock; the county decides within the same span
                *(
                    (
                        Timer(REPORTED, "flag_first_aid_overdue", lambda _c: first_aid),
                        Timer(COUNTY_APPROVAL, "flag_first_aid_overdue", _left_of(first_aid)),
                    )
                    if first_aid
                    else ()
                ),
            ),
            deadlines=(
                Deadline(PAID, lambda _c: spec.paperwork),
                *(
                    (Deadline(REPORTED, lambda _c: first_aid), Deadline(COUNTY_APPROVAL, _left_of(first_aid)))
                    if first_aid
                    else ()
                ),
            ),
            labels=labels,
            title="急难型临时救助 / emergency temporary aid",
            check_data=casefile.check,
        )
    )
