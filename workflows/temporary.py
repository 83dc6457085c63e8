"""支出型临时救助 on the normal channel (K1, K2): the township accepts, investigates and gives its opinion,
posts one notice, then decides within its limit or refers the case to the county above it; accepted to
decided within the policy's total (15 working days), a breach flagged.

The grant is paid through the payment runs, not the fast channel's reserve fund: at once (one
instalment, the month after the decision) or, for lasting hardship, in monthly instalments (K6, at most
the policy's months). Caps per grant (K6, a multiple of the dibao standard) and per cause per calendar
year (K6, 因病 8,000 元), and once per cause per year (K7, both channels together, unless the county
overrides it), are checked when the grant is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from engine.access import Role
from engine.calendar import SHANGHAI, Delay, Unit, add_months, local_date
from engine.definition import (
    CaseView,
    Deadline,
    GuardContext,
    Timer,
    WorkflowDefinition,
    transition,
    validate,
)
from workflows import aidtypes, casefile
from workflows import guards as g
from workflows.common import (
    CLOSE_NOTICE,
    OBJECTION_REVIEW,
    appended,
    notice_timer,
    objection_transitions,
    official,
    record_reason,
    stamp,
)
from workflows.spec import TemporarySpec

DRAFT = "draft"
REVIEW = "temporary_review"
TOWNSHIP_APPROVAL = "township_approval"
COUNTY_APPROVAL = "county_approval"
GRANTED = "granted"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
OVERDUE = "temporary_overdue"
FLAG = "flag_temporary_overdue"

LABELS = {
    DRAFT: "草稿 / draft",
    REVIEW: "乡镇受理调查 / township investigation",
    TOWNSHIP_APPROVAL: "乡镇审批 / township decision",
    COUNTY_APPROVAL: "报县级审批 / referred to the county",
    OBJECTION_REVIEW: "异议核查 / objection under review",
    GRANTED: "已批准救助 / aid granted",
    REJECTED: "不予救助 / refused",
    WITHDRAWN: "已撤回 / withdrawn",
}


def _fen(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _submitted(ctx: GuardContext) -> Mapping[str, Any]:
    due = ctx.facts.get("temporary_due_at")
    return {"submitted": stamp(ctx), "decision_due": due.isoformat() if isinstance(due, datetime) else None}


def _township_passed(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "township_pass": stamp(ctx, opinion=str(ctx.data.get("opinion", "")).strip()),
        "township_actors": appended(ctx, "township_actors", ctx.actor.username),
        "township_passers": appended(ctx, "township_passers", ctx.actor.username),
    }


def _month(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def schedule(amount_fen: int, instalments: int, decided: datetime, start_months: int) -> list[dict[str, Any]]:
    """The grant's payment lines: equal monthly parts (the remainder in the first) from the month the
    payments start (the policy's months after the decision's month)."""
    first = datetime(local_date(decided).year, local_date(decided).month, 1, tzinfo=SHANGHAI)
    part, rest = divmod(amount_fen, instalments)
    return [
        {"month": _month(add_months(first, start_months + i)), "amount_fen": part + (rest if i == 0 else 0)}
        for i in range(instalments)
    ]


def _granted(ctx: GuardContext) -> Mapping[str, Any]:
    amount = int(ctx.data["amount_fen"])
    count = int(ctx.data.get("instalments") or 1)
    rules = g.rules_of(ctx)
    return {
        "temporary_grant": stamp(
            ctx,
            amount_fen=amount,
            instalments=count,
            cause=ctx.case.data.get("cause"),
            county_override=ctx.data.get("county_override") is True,
        ),
        "instalments": schedule(amount, count, ctx.now, rules.payment_start_months),
    }


def _overdue(ctx: GuardContext) -> Mapping[str, Any]:
    """K2: the total clock has run out; flagged in each state the case is still undecided in."""
    flagged = {"kind": OVERDUE, "state": ctx.case.state, "at": ctx.now.isoformat()}
    return {"flags": appended(ctx, "flags", flagged)}


def left(case: CaseView) -> Delay:
    """What is left of the total clock, which runs from acceptance through the notice to the decision."""
    due = case.data.get("decision_due")
    if not due:
        return Delay(0, Unit.SECONDS)
    seconds = int((datetime.fromisoformat(str(due)) - case.state_entered_at).total_seconds())
    return Delay(max(seconds, 0), Unit.SECONDS)


# --------------------------------------------------------------------------- the grant's terms


def grant_terms(ctx: GuardContext) -> Iterable[str]:
    """K5 the township's limit, K6 the caps per grant and per cause per year, K6 instalments, K7 once
    per cause per year (both channels together); the county alone may override K6's per-grant cap and K7."""
    rules = g.rules_of(ctx)
    temp = rules.temporary
    amount = _fen(ctx.data.get("amount_fen"))
    county = ctx.role == Role.COUNTY_OFFICER
    override = ctx.data.get("county_override") is True
    count = ctx.data.get("instalments", 1)
    if amount is None:
        yield "请填写救助金额（分，正整数）/ give amount_fen (a positive whole number of fen)"
        return
    if not (isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= temp.instalments_max_months):
        yield (
            f"分期月数须为 1 至 {temp.instalments_max_months} / instalments must be from 1 to "
            f"{temp.instalments_max_months} months (K6)"
        )
    if override and not county:
        yield "只有县级可以一事一议突破上限或年度次数 / only the county may override the cap or the once-a-year rule"
    if not county and amount > temp.township_limit_fen:
        yield (
            f"金额超过乡镇审批限额 {temp.township_limit_fen / 100:.2f} 元，请报县级审批（refer_to_county）/ "
            f"the amount is over the township's limit of {temp.township_limit_fen} fen; refer it to the county"
        )
    cap = temp.cap_multiple * rules.dibao_standard_fen
    if amount > cap and not (county and override):
        yield (
            f"金额超过当地低保月标准的 {temp.cap_multiple} 倍（{cap / 100:.2f} 元），"
            "须县级一事一议（county_override）/ "
            f"the amount is over {temp.cap_multiple} times the monthly standard ({cap} fen): only a case-by-case "
            "county decision (county_override: true) may grant it (K6)"
        )
    cause = str(ctx.case.data.get("cause") or "other")
    cause_cap = temp.cause_cap_fen_year.get(cause, temp.cause_cap_fen_year["other"])
    earlier_fen = int(ctx.facts.get("cause_fen_this_year", 0))
    if earlier_fen + amount > cause_cap:
        yield (
            f"该家庭本年度因同一事由（{cause}）已获救助 {earlier_fen / 100:.2f} 元，"
            f"加本次 {amount / 100:.2f} 元超过年度上限 {cause_cap / 100:.2f} 元 / "
            f"this year the household has been granted {earlier_fen} fen for the cause "
            f"{cause!r}; with this grant of {amount} fen it would exceed the yearly cap of {cause_cap} fen (K6)"
        )
    earlier = int(ctx.facts.get("cause_grants_this_year", 0))
    if earlier >= temp.per_cause_per_year and not (county and override):
        yield (
            f"该家庭本年度已因同一事由（{cause}）获得临时救助，再次救助须县级批准（county_override）/ "
            f"the household was already aided for the cause {cause!r} this year; only the county may grant again (K7)"
        )


def build(spec: TemporarySpec) -> WorkflowDefinition:
    township, county = (Role.TOWNSHIP_OFFICER,), (Role.COUNTY_OFFICER,)
    notice = spec.notice
    open_states = (REVIEW, notice.state, OBJECTION_REVIEW, TOWNSHIP_APPROVAL, COUNTY_APPROVAL)
    clocked = (REVIEW, OBJECTION_REVIEW, TOWNSHIP_APPROVAL, COUNTY_APPROVAL)  # a notice runs its own
    transitions = (
        transition(
            "submit",
            DRAFT,
            REVIEW,
            by=[Role.APPLICANT, Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER],
            guards=[g.household_identities],
            effect=_submitted,
            label="提交申请（乡镇受理）/ submitted (accepted by the township)",
        ),
        official(
            "township_pass",
            REVIEW,
            notice.state,
            by=township,
            guards=(g.household_identities, g.written_opinion),
            effect=_township_passed,
            label="乡镇调查审核通过 / investigated: township opinion given",
        ),
        official(
            "township_reject",
            REVIEW,
            REJECTED,
            by=township,
            guards=(g.written_reason, aidtypes.refusal_terms),
            effect=record_reason("refusal"),
            label="乡镇审核不通过 / refused at township review",
        ),
        transition(
            CLOSE_NOTICE, notice.state, TOWNSHIP_APPROVAL, by=[Role.SYSTEM], label=f"{notice.label}期满 / notice ended"
        ),
        official(
            "grant_temporary",
            TOWNSHIP_APPROVAL,
            GRANTED,
            by=township,
            guards=(g.not_township_passer, grant_terms),
            effect=_granted,
            label="批准临时救助 / aid granted",
        ),
        official(
            "grant_temporary",
            COUNTY_APPROVAL,
            GRANTED,
            by=county,
            guards=(grant_terms,),
            effect=_granted,
            label="县级批准临时救助 / aid granted by the county",
        ),
        official(
            "refer_to_county",
            TOWNSHIP_APPROVAL,
            COUNTY_APPROVAL,
            by=township,
            guards=(g.written_reason,),
            effect=record_reason("referral"),
            label="报县级审批 / referred to the county",
        ),
        official(
            "deny",
            TOWNSHIP_APPROVAL,
            REJECTED,
            by=township,
            guards=(g.not_township_passer, g.written_reason, aidtypes.refusal_terms),
            effect=record_reason("refusal"),
            label="不予救助 / refused",
        ),
        official(
            "deny",
            COUNTY_APPROVAL,
            REJECTED,
            by=county,
            guards=(g.written_reason, aidtypes.refusal_terms),
            effect=record_reason("refusal"),
            label="不予救助 / refused",
        ),
        transition(
            FLAG,
            clocked,
            None,
            by=[Role.SYSTEM],
            effect=_overdue,
            label="临时救助办理超期 / temporary aid overdue",
        ),
        transition(
            "withdraw",
            (DRAFT, *open_states),
            WITHDRAWN,
            by=[Role.APPLICANT, Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER],
            guards=[g.applicant_or_filer],
            effect=record_reason("withdrawal"),
            label="撤回 / withdrawn",
            queued=False,
        ),
        *objection_transitions({notice.state: REVIEW}, handlers=township),
    )
    labels = {**LABELS, notice.state: notice.label}
    return validate(
        WorkflowDefinition(
            key=TemporarySpec.key,
            version=spec.version,
            states=(DRAFT, *open_states, GRANTED, REJECTED, WITHDRAWN),
            initial=DRAFT,
            terminal=frozenset({GRANTED, REJECTED, WITHDRAWN}),
            transitions=transitions,
            timers=(notice_timer(notice), *(Timer(s, FLAG, left) for s in clocked)),
            deadlines=tuple(Deadline(s, left) for s in open_states),
            labels=labels,
            title="支出型临时救助 / temporary aid (spending-driven)",
            check_data=casefile.check,
        )
    )
