"""动态管理: an active beneficiary's periodic review, amount changes, 渐退 (grace period) and exit.

These states continue the standard application (the same case, the same audit trail).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from engine.access import Role
from engine.calendar import Delay, Unit, local_date
from engine.definition import CaseView, GuardContext, Timer, Transition, transition
from workflows import aidtypes, verification
from workflows import guards as g
from workflows.common import CLOSE_NOTICE, appended, flag, notice_timer, official, stamp
from workflows.policy import NoticeStage
from workflows.spec import StandardSpec

ACTIVE = "active"
UNDER_REVIEW = "under_review"
GRACE_PERIOD = "grace_period"
TERMINATION_APPROVAL = "termination_approval"
SUSPENDED = "suspended"
EXITED = "exited"

LABELS = {
    ACTIVE: "保障中 / receiving support",
    UNDER_REVIEW: "定期核查中 / under review",
    GRACE_PERIOD: "渐退期 / grace period",
    TERMINATION_APPROVAL: "终止待县级审批 / termination awaiting county approval",
    SUSPENDED: "中止发放 / payments suspended",
    "notice_termination": "终止公示 / termination notice",
    EXITED: "已退出 / exited",
}

# States in which a beneficiary is paid: until a termination is approved and its notice has run
# (an objection to a termination notice keeps payment going too).
PAID_STATES = frozenset({ACTIVE, UNDER_REVIEW, GRACE_PERIOD, TERMINATION_APPROVAL, "notice_termination"})


# T6 (特困) and §6 (低保): why support ends. The township names one when it terminates; the payment run
# names `unclaimed` (D3) when it ends support itself.
TERMINATION_GROUNDS = {
    "death": "死亡或被宣告失踪 / death or declared missing",
    "work_capacity": "具备或恢复劳动能力（含年满十八周岁）/ able to work (again), or came of age",
    "prison": "在监狱服刑 / in prison",
    "no_longer_qualifies": "收入、财产不再符合条件 / income or assets no longer qualify",
    "supporter_able": "赡养、抚养、扶养义务人有了履行义务能力 / a legal supporter became able to support",
    "voluntary": "本人自愿退出 / voluntary exit",
    "unreachable": "失去联系六个月以上 / unreachable for six months or more",
    "non_cooperation": "不配合核查 / would not cooperate with the review",
    "fraud": "以虚报、隐瞒等手段骗取救助 / obtained by false or hidden information",
    "unclaimed": "连续多月未领取 / unclaimed for months in a row",
    "refused_work": "有劳动能力的成员多次无正当理由拒绝就业 / a member able to work refused offered jobs (E5)",
}
UNCLAIMED = "unclaimed"
SCHOOL_CHOICES = ("in_school", "left_school")


def review_class(data: Mapping[str, Any]) -> str:
    """D1: households with a member able to work are reviewed more often (their income moves)."""
    return "unstable" if any(m.get("can_work") for m in g.members(data)) else "stable"


def activated(ctx: GuardContext) -> dict[str, Any]:
    return {"activated_at": ctx.now.isoformat()}


def activated_effect(ctx: GuardContext) -> Mapping[str, Any]:
    return activated(ctx)


def _exit(how: str) -> Any:
    def effect(ctx: GuardContext) -> Mapping[str, Any]:
        reason = str(ctx.data.get("reason", "")).strip()
        ending = ctx.case.data.get("termination") or {}
        if not reason and how == "grace_period_ended":
            reason = "渐退期满 / grace period ended"
        if not reason and how == "terminated":
            reason = str(ending.get("reason", ""))
        ground = "voluntary" if how == "voluntary" else str(ctx.data.get("ground") or ending.get("ground") or "")
        return {"exited": stamp(ctx, how=how, reason=reason, **({"ground": ground} if ground else {}))}

    return effect


def job_refused(ctx: GuardContext) -> Mapping[str, Any]:
    """E5: one refused job offer, kept on the file; the policy's count of them is flagged to the township."""
    d = ctx.data
    refusals = [
        *(ctx.case.data.get("job_refusals") or []),
        stamp(ctx, member=d.get("member"), offer=str(d.get("offer", "")).strip(), offered_on=d.get("offered_on")),
    ]
    patch: dict[str, Any] = {"job_refusals": refusals}
    limit = g.rules_of(ctx).job_refusals_before_cut
    if len(refusals) == limit:
        flag = {"kind": "job_refusals", "state": ctx.case.state, "at": ctx.now.isoformat()}
        patch["flags"] = [*(ctx.case.data.get("flags") or []), flag]
    return patch


def job_refusal_record(ctx: GuardContext) -> Iterable[str]:
    """E5: the refused offer is named, with its date and the member it was made to (one able to work)."""
    d = ctx.data
    if not str(d.get("offer") or "").strip():
        yield "请写明介绍的工作岗位 / name the job that was offered"
    if not d.get("offered_on"):
        yield "请填写介绍工作的日期 / give the date the job was offered (offered_on)"
    member = d.get("member")
    people = g.members(ctx.case.data)
    if not isinstance(member, int) or not 1 <= member <= len(people):
        yield f"请指明家庭成员（1 至 {len(people)}）/ name the member (1 to {len(people)})"
    elif not people[member - 1].get("can_work"):
        yield "该成员未登记为有劳动能力，拒绝就业不计入 / that member is not recorded as able to work"


def termination_ground(ctx: GuardContext) -> Iterable[str]:
    """T6: a termination names its ground, one of the list."""
    if ctx.data.get("ground") not in TERMINATION_GROUNDS:
        listed = "; ".join(f"{key}（{label}）" for key, label in TERMINATION_GROUNDS.items() if key != UNCLAIMED)
        yield f"请选择终止保障的事由 ground：{listed} / give the ground of the termination (T6)"
    elif ctx.data.get("ground") == "refused_work":
        limit = g.rules_of(ctx).job_refusals_before_cut
        count = len(ctx.case.data.get("job_refusals") or [])
        if count < limit:
            yield (
                f"拒绝就业仅记录 {count} 次，达到 {limit} 次方可据此终止 / only {count} refused job offers are "
                f"recorded; support may be ended on this ground after {limit} (E5)"
            )
    elif ctx.data.get("ground") == UNCLAIMED:
        yield (
            "连续未领取由发放程序按政策月数自动终止，不能手工选择 / support ends for unclaimed payments when the "
            "payment run finds the policy's months in a row (D3), not by hand"
        )


def minor_keeps_support(ctx: GuardContext) -> Iterable[str]:
    """T6: a 特困 minor keeps support until the policy's age, and longer while in school."""
    if ctx.case.data.get("aid_type") != "tekun" or ctx.data.get("ground") != "work_capacity":
        return
    minor_age = g.rules_of(ctx).tekun.minor_age
    births: Mapping[str, date] = ctx.facts.get("birth_dates") or {}
    born = births.get(str((ctx.case.data.get("applicant") or {}).get("id_hash")))
    if born is None:
        return
    age = g.age_on(born, local_date(ctx.now))
    if age < minor_age:
        yield (
            f"供养对象 {age} 岁，未满 {minor_age} 周岁，继续供养至 {minor_age} 周岁 / the person is {age}: "
            f"a minor keeps support until {minor_age} (T6)"
        )
        return
    activated = ctx.case.data.get("activated_at")
    was_minor = isinstance(activated, str) and g.age_on(born, local_date(datetime.fromisoformat(activated))) < (
        minor_age
    )
    school = ctx.data.get("school")
    if was_minor and school not in SCHOOL_CHOICES:
        yield (
            f"供养对象未成年时纳入特困供养，须写明是否仍在校就读 school（in_school 在校、left_school 已离校）/ "
            f"supported since before {minor_age}: state whether still in school (school: in_school or left_school)"
        )
    elif was_minor and school == "in_school":
        yield (
            f"年满 {minor_age} 周岁仍在校就读的，继续供养 / support goes on past {minor_age} while the person is "
            "in school (T6)"
        )


def _unclaimed_ended(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "flags": appended(ctx, "flags", {"kind": UNCLAIMED, "state": ctx.case.state, "at": ctx.now.isoformat()}),
    }


def _review_started(ctx: GuardContext) -> Mapping[str, Any]:
    # D6: each review asks the checking body for a fresh report.
    return {"review": stamp(ctx), **verification.renewed(ctx)}


def _continued(ctx: GuardContext) -> Mapping[str, Any]:
    return {
        "review": None,
        "reviews": appended(ctx, "reviews", stamp(ctx, outcome="continue", note=str(ctx.data.get("note", "")))),
    }


def _adjusted(ctx: GuardContext) -> Mapping[str, Any]:
    before = ctx.case.data.get("monthly_amount_fen")
    after = ctx.data.get("monthly_amount_fen")
    change = stamp(ctx, before=before, after=after, reason=str(ctx.data.get("reason", "")).strip())
    return {
        "monthly_amount_fen": after,
        "review": None,
        "adjustments": appended(ctx, "adjustments", change),
        "reviews": appended(ctx, "reviews", {**change, "outcome": "adjust"}),
    }


def _grace(ctx: GuardContext) -> Mapping[str, Any]:
    return {"review": None, "grace": stamp(ctx, reason=str(ctx.data.get("reason", "")).strip())}


def _suspended(ctx: GuardContext) -> Mapping[str, Any]:
    return {"suspension": stamp(ctx, reason=str(ctx.data.get("reason", "")).strip())}


def _resumed(ctx: GuardContext) -> Mapping[str, Any]:
    ended = {**dict(ctx.case.data.get("suspension") or {}), "resumed": stamp(ctx, note=str(ctx.data.get("note", "")))}
    return {"suspension": None, "suspensions": appended(ctx, "suspensions", ended)}


def _suspension_transitions(spec: StandardSpec) -> list[Transition]:
    """D3: a household that will not cooperate with its review is suspended (中止: not paid) until it
    does; one suspended past the policy's months is flagged for the township to end its support."""
    if spec.suspension_months is None:
        return []
    township = (Role.TOWNSHIP_OFFICER,)
    return [
        official(
            "suspend",
            UNDER_REVIEW,
            SUSPENDED,
            by=township,
            guards=(g.written_reason,),
            effect=_suspended,
            label="不配合核查，中止发放 / suspended: the household does not cooperate with the review",
        ),
        official(
            "resume",
            SUSPENDED,
            UNDER_REVIEW,
            by=township,
            effect=_resumed,
            label="恢复核查 / the review resumes",
        ),
        transition(
            "flag_suspension_long",
            SUSPENDED,
            None,
            by=[Role.SYSTEM],
            effect=flag("suspended_too_long"),
            label="中止超期，应终止保障 / suspended too long: support should end",
        ),
    ]


def transitions(spec: StandardSpec, termination: NoticeStage | None) -> tuple[Transition, ...]:
    township = (Role.TOWNSHIP_OFFICER,)
    posted = frozenset(spec.termination_notice_for)
    by_county = frozenset(spec.termination_approved_by_county_for)

    def after_approval(ctx: GuardContext) -> str:
        """T7: an approved termination is posted first where policy says so, else takes effect."""
        if termination is not None and ctx.case.data.get("aid_type") in posted:
            return termination.state
        return EXITED

    def termination_dest(ctx: GuardContext) -> str:
        """T7: where the county approves terminations (特困), the township's decision goes to it."""
        if ctx.case.data.get("aid_type") in by_county:
            return TERMINATION_APPROVAL
        return after_approval(ctx)

    def terminated(ctx: GuardContext) -> Mapping[str, Any]:
        school = ctx.data.get("school")
        record = stamp(
            ctx,
            reason=str(ctx.data.get("reason", "")).strip(),
            ground=str(ctx.data.get("ground") or ""),
            **({"school": school} if school in SCHOOL_CHOICES else {}),
            **({"months": list(ctx.data["months"])} if isinstance(ctx.data.get("months"), list) else {}),
        )
        patch: dict[str, Any] = {"review": None, "termination": record}
        if termination_dest(ctx) == EXITED:
            patch.update(_exit("terminated")(ctx))
        return patch

    def unclaimed(ctx: GuardContext) -> Mapping[str, Any]:
        """D3: the payment run ends support unclaimed for the policy's months, as a termination would."""
        return {**terminated(ctx), **_unclaimed_ended(ctx)}

    def termination_approved(ctx: GuardContext) -> Mapping[str, Any]:
        termination_record = dict(ctx.case.data.get("termination") or {})
        approval = stamp(ctx, note=str(ctx.data.get("note", "")).strip())
        patch: dict[str, Any] = {"termination": {**termination_record, "approved": approval}}
        if after_approval(ctx) == EXITED:
            patch.update(_exit("terminated")(ctx))
        return patch

    def termination_refused(ctx: GuardContext) -> Mapping[str, Any]:
        refused = {
            **dict(ctx.case.data.get("termination") or {}),
            "refused": stamp(ctx, reason=str(ctx.data.get("reason", "")).strip()),
        }
        return {"termination": None, "terminations_refused": appended(ctx, "terminations_refused", refused)}

    found = [
        transition(
            "start_review",
            ACTIVE,
            UNDER_REVIEW,
            by=[Role.TOWNSHIP_OFFICER, Role.SYSTEM],
            guards=[g.not_recused],
            effect=_review_started,
            label="开始定期核查 / review started",
        ),
        official(
            "continue",
            UNDER_REVIEW,
            ACTIVE,
            by=township,
            guards=(verification.ready_for_review,),
            effect=_continued,
            label="核查无变化，继续保障 / no change: support continues",
        ),
        official(
            "adjust",
            UNDER_REVIEW,
            ACTIVE,
            by=township,
            guards=(aidtypes.adjusted_amount, verification.ready_for_review),
            effect=_adjusted,
            label="调整保障金额 / amount adjusted",
        ),
        official(
            "begin_exit",
            UNDER_REVIEW,
            GRACE_PERIOD,
            by=township,
            guards=(g.written_reason,),
            effect=_grace,
            label="进入渐退期 / grace period begins",
        ),
        transition(
            "end_grace",
            GRACE_PERIOD,
            EXITED,
            by=[Role.SYSTEM],
            effect=_exit("grace_period_ended"),
            label="渐退期满退出 / grace period ended",
        ),
        official(
            "record_job_refusal",
            (ACTIVE, UNDER_REVIEW),
            None,
            by=township,
            guards=(job_refusal_record,),
            effect=job_refused,
            label="记录拒绝就业 / refused job offer recorded",
            queued=False,
        ),
        official(
            "terminate",
            (ACTIVE, UNDER_REVIEW, *((SUSPENDED,) if spec.suspension_months is not None else ())),
            None,
            by=township,
            guards=(g.written_reason, termination_ground, minor_keeps_support),
            choose_dest=termination_dest,
            dests=(
                EXITED,
                *((termination.state,) if termination is not None else ()),
                *((TERMINATION_APPROVAL,) if by_county else ()),
            ),
            effect=terminated,
            label="终止保障 / support terminated",
        ),
        transition(
            "end_unclaimed",
            (ACTIVE, UNDER_REVIEW, GRACE_PERIOD),
            None,
            by=[Role.SYSTEM],
            choose_dest=termination_dest,
            dests=(
                EXITED,
                *((termination.state,) if termination is not None else ()),
                *((TERMINATION_APPROVAL,) if by_county else ()),
            ),
            effect=unclaimed,
            label="连续未领取，终止保障 / payments unclaimed for months in a row: support ends",
        ),
        transition(
            "voluntary_exit",
            (ACTIVE, UNDER_REVIEW, GRACE_PERIOD),
            EXITED,
            by=[Role.APPLICANT, Role.TOWNSHIP_OFFICER],
            guards=[g.not_recused],
            effect=_exit("voluntary"),
            label="自愿退出 / voluntary exit",
        ),
    ]
    found += _suspension_transitions(spec)
    if by_county:
        county = (Role.COUNTY_OFFICER,)
        found += [
            official(
                "approve_termination",
                TERMINATION_APPROVAL,
                None,
                by=county,
                choose_dest=after_approval,
                dests=(EXITED, *((termination.state,) if termination is not None else ())),
                effect=termination_approved,
                label="县级批准终止 / the county approves the termination",
            ),
            official(
                "reject_termination",
                TERMINATION_APPROVAL,
                ACTIVE,
                by=county,
                guards=(g.written_reason,),
                effect=termination_refused,
                label="县级不予终止，继续保障 / the county refuses: support continues",
            ),
        ]
    if termination is not None:
        found.append(
            transition(
                CLOSE_NOTICE,
                termination.state,
                EXITED,
                by=[Role.SYSTEM],
                effect=_exit("terminated"),
                label="终止公示期满 / termination notice ended",
            )
        )
    return tuple(found)


def timers(spec: StandardSpec, termination: NoticeStage | None) -> tuple[Timer, ...]:
    def review_due(case: CaseView) -> Delay:
        unstable = case.data.get("review_class") == "unstable"
        return Delay(spec.review_unstable_months if unstable else spec.review_stable_months, Unit.MONTHS)

    found = [
        Timer(ACTIVE, "start_review", review_due),
        Timer(GRACE_PERIOD, "end_grace", lambda _c: Delay(spec.grace_months, Unit.MONTHS)),
    ]
    if termination is not None:
        found.append(notice_timer(termination))
    if spec.suspension_months is not None:
        months = spec.suspension_months
        found.append(Timer(SUSPENDED, "flag_suspension_long", lambda _c: Delay(months, Unit.MONTHS)))
    return tuple(found)


def states(spec: StandardSpec, termination: NoticeStage | None) -> tuple[str, ...]:
    return (
        ACTIVE,
        UNDER_REVIEW,
        GRACE_PERIOD,
        *((TERMINATION_APPROVAL,) if spec.termination_approved_by_county_for else ()),
        *((SUSPENDED,) if spec.suspension_months is not None else ()),
        *((termination.state,) if termination is not None else ()),
        EXITED,
    )
