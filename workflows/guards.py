"""Guards of the aid workflows: each names, in Chinese and English, what an official can do about it.

Guards read the case, the act's data and the facts looked up before firing (`ctx.facts`): the rules in
force (`rules`), and what only the database knows (identity checks, fund balance, earlier grants).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from engine.access import Role
from engine.calendar import local_date
from engine.definition import GuardContext, actor_guard, refusal_recorded
from workflows.policy import Rules


def rules_of(ctx: GuardContext) -> Rules:
    rules = ctx.facts.get("rules")
    if not isinstance(rules, Rules):
        raise RuntimeError("the policy's rules were not looked up before firing")
    return rules


def members(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = data.get("members") or []
    return [m for m in found if isinstance(m, Mapping)]


def household_income(data: Mapping[str, Any]) -> int:
    return sum(int(m.get("monthly_income_fen", 0)) for m in members(data))


# --------------------------------------------------------------------------- the household's figures


def member_checks(data: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """The 核对 reports on the case's file, by the member's identity hash."""
    found = (data.get("verification") or {}).get("members")
    return found if isinstance(found, Mapping) else {}


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


@dataclass(frozen=True)
class Figures:
    """The household's monthly income and assets as eligibility is judged on them: a member's 核对
    figures where a report is recorded, what the household declared otherwise (P4)."""

    income_fen: int
    assets_fen: int
    declared_income_fen: int
    declared_assets_fen: int

    def note(self) -> tuple[str, str]:
        """Where the checked figures differ from the declared ones, in words (Chinese, English)."""
        zh: list[str] = []
        en: list[str] = []
        for what_zh, what_en, checked, declared in (
            ("月收入", "monthly income", self.income_fen, self.declared_income_fen),
            ("财产", "assets", self.assets_fen, self.declared_assets_fen),
        ):
            if checked != declared:
                above = checked > declared
                higher_zh, higher_en = ("高于", "above") if above else ("低于", "below")
                zh.append(f"核对{what_zh} {_yuan(checked)} 元{higher_zh}申报 {_yuan(declared)} 元")
                en.append(f"checked {what_en} {_yuan(checked)} yuan, {higher_en} the declared {_yuan(declared)}")
        if not zh:
            return "", ""
        return f"（按核对结果：{'；'.join(zh)}）", f" (by the cross-check: {'; '.join(en)})"


def figures(data: Mapping[str, Any]) -> Figures:
    """Income: each member's checked figure, else the declared one. Assets: the members' checked assets
    when every member is checked; before that, the declared assets unless the checked part alone is more."""
    checks = member_checks(data)
    income = declared = checked_assets = 0
    unchecked = False
    for m in members(data):
        own = int(m.get("monthly_income_fen", 0))
        declared += own
        report = checks.get(str(m.get("id_hash")))
        if report is None:
            income += own
            unchecked = True
        else:
            income += int(report.get("monthly_income_fen", 0))
            checked_assets += int(report.get("assets_fen", 0))
    declared_assets = int(data.get("assets_fen", 0))
    assets = checked_assets if checks and not unchecked else max(declared_assets, checked_assets)
    return Figures(income, assets, declared, declared_assets)


def relative_hashes(data: Mapping[str, Any]) -> set[str]:
    """Identity hashes an official must not hold to act: relatives in office, the household, its supporters."""
    found = {str(r.get("id_hash")) for r in data.get("relatives_in_office") or [] if r.get("id_hash")}
    found |= {str(m.get("id_hash")) for m in members(data) if m.get("id_hash")}
    found |= {str(p.get("id_hash")) for p in data.get("supporters") or [] if p.get("id_hash")}
    applicant = data.get("applicant") or {}
    if applicant.get("id_hash"):
        found.add(str(applicant["id_hash"]))
    return found


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def _positive_fen(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _iso_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------- who may act
#
# These guards judge only who acts, never the act's data or the facts looked up for it: marked with
# `actor_guard`, the engine also runs them when it lists the actions a caller may fire.


@refusal_recorded
def not_recused(ctx: GuardContext) -> Iterable[str]:
    """近亲属回避: an official related to the household (declared, or a member) may not act on it."""
    if ctx.actor.is_system or ctx.role in (Role.APPLICANT, Role.PUBLIC):
        return
    related = ctx.actor.id_number_hash is not None and ctx.actor.id_number_hash in relative_hashes(ctx.case.data)
    if related or ctx.actor.username in (ctx.case.data.get("recused") or []):
        yield (
            "您与该申请家庭存在近亲属关系（已备案），须回避，请由其他工作人员办理 / "
            "you are a declared relative of this household and must recuse; another official must act"
        )


@refusal_recorded
def not_village_actor(ctx: GuardContext) -> Iterable[str]:
    """The person who acted at the village stage, or visited the household as one of its
    investigators, does not also act at the township stage."""
    if _as_person(ctx) & set(ctx.case.data.get("village_actors") or []):
        yield (
            "您已在村级评议阶段办理本案（含入户调查），乡镇审核审批须由他人办理 / "
            "you acted at the village review of this case (or visited the household for it); "
            "another official must act at the township"
        )


def _as_person(ctx: GuardContext) -> set[str]:
    """The acting official's username and those of their other accounts (the same identity number)."""
    return {ctx.actor.username, *(ctx.facts.get("same_person") or ())}


@refusal_recorded
def not_township_actor(ctx: GuardContext) -> Iterable[str]:
    """And the township's reviewer does not go back to act at the village stage."""
    if _as_person(ctx) & set(ctx.case.data.get("township_actors") or []):
        yield (
            "您已在乡镇审核阶段办理本案，村级评议须由他人办理 / "
            "you acted at the township review of this case; another official must act at the village"
        )


@refusal_recorded
def not_township_passer(ctx: GuardContext) -> Iterable[str]:
    """审批 never by a person who gave the township's opinion (审核), on any round of the case."""
    passed = ctx.case.data.get("township_pass") or {}
    if _as_person(ctx) & set(ctx.case.data.get("township_passers") or [passed.get("by")]):
        yield (
            "您出具了乡镇审核意见，审批须由另一人作出 / "
            "you gave the township's opinion on this case; another official must decide it"
        )


def _challenged(data: Mapping[str, Any], notice_state: str) -> set[str]:
    """Whose act a notice made public: an objection to it challenges them."""
    if notice_state == "notice_village":
        return {str(n) for n in data.get("village_actors") or []}
    if notice_state == "notice_township":
        return {str(n) for n in data.get("township_passers") or []}
    record = {
        "notice_final": data.get("approval"),
        "notice_post": data.get("grant"),
        "notice_termination": data.get("termination"),
    }.get(notice_state) or {}
    found = {str(record["by"])} if record.get("by") else set()
    approved = record.get("approved") or {}
    if approved.get("by"):
        found.add(str(approved["by"]))
    return found


@refusal_recorded
def not_challenged(ctx: GuardContext) -> Iterable[str]:
    """An objection is judged by someone other than the official whose act it challenges."""
    objection = ctx.case.data.get("objection") or {}
    if ctx.actor.username in _challenged(ctx.case.data, str(objection.get("stage", ""))):
        yield (
            "异议针对的是您本人的办理结果，须由其他工作人员核查 / "
            "the objection challenges your own act: another official must review it"
        )


@actor_guard
def applicant_or_filer(ctx: GuardContext) -> Iterable[str]:
    """Withdrawal: the applicant, or the official who applied on the household's behalf (who filed it)."""
    me = ctx.actor.user_id
    if me is None or me not in (ctx.case.applicant_user_id, ctx.case.created_by_user_id):
        yield (
            "只有申请人或代为申请的工作人员可以撤回申请 / "
            "only the applicant or the official who applied on their behalf may withdraw"
        )


# --------------------------------------------------------------------------- written records


def written_reason(ctx: GuardContext) -> Iterable[str]:
    if not _text(ctx.data, "reason"):
        yield "请写明理由（将书面告知申请人）/ write the reason (the applicant is told it in writing)"


def delivery_record(ctx: GuardContext) -> Iterable[str]:
    """P11: the day the written refusal was delivered (not before the refusal, not in the future), and how."""
    day = _iso_date(ctx.data.get("delivered_on"))
    if day is None:
        yield "请填写送达日期（YYYY-MM-DD）/ give the day it was delivered (YYYY-MM-DD)"
    elif day > local_date(ctx.now) or day < local_date(ctx.case.state_entered_at):
        yield "送达日期须在决定之后、今天之前 / the day of delivery must fall between the decision and today"
    if not _text(ctx.data, "method"):
        yield "请填写送达方式（如直接送达、邮寄）/ say how it was delivered (in person, by post)"


def written_opinion(ctx: GuardContext) -> Iterable[str]:
    if not _text(ctx.data, "opinion"):
        yield "请填写乡镇审核意见 / write the township's opinion"


def written_finding(ctx: GuardContext) -> Iterable[str]:
    if not _text(ctx.data, "finding"):
        yield "请填写异议核查结论 / write the finding of the objection's investigation"


def complete_missing_list(ctx: GuardContext) -> Iterable[str]:
    """P1 一次性告知: every missing item at once, and a date to provide them by."""
    missing = ctx.data.get("missing")
    if not isinstance(missing, list) or not missing or not all(isinstance(m, str) and m.strip() for m in missing):
        yield "请一次性列明所缺的全部材料 / list every missing item at once (a non-empty list)"
    due = _iso_date(ctx.data.get("due"))
    if due is None:
        yield "请给出补正期限（YYYY-MM-DD）/ give the date to provide them by (YYYY-MM-DD)"
    elif due < local_date(ctx.now):
        yield "补正期限不能早于今天 / the date to provide them by cannot be in the past"
    else:
        longest = rules_of(ctx).info_due_max_days
        if due > local_date(ctx.now) + timedelta(days=longest):
            yield (
                f"补正期限最长为 {longest} 天，请在此期限内 / "
                f"the date to provide them by may be at most {longest} days ahead"
            )


# --------------------------------------------------------------------------- the household


def birth_date(id_number: str) -> date | None:
    """The birth date an identity number carries (GB 11643: digits 7-14)."""
    digits = id_number[6:14]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def household_identities(ctx: GuardContext) -> Iterable[str]:
    """Every member named, with a valid identity number (GB 11643 check digit), none twice."""
    people = members(ctx.case.data)
    if not people:
        yield "请登记家庭成员 / list the household's members"
    invalid: Sequence[str] = ctx.facts.get("invalid_ids", ())
    for name in invalid:
        yield f"{name} 的身份证号码无效（校验位不符）/ {name}'s identity number is not valid (check digit)"
    hashes = [m.get("id_hash") for m in people]
    if len(set(hashes)) != len(hashes):
        yield "同一身份证号码登记了两次 / the same identity number is listed twice"


def investigators(ctx: GuardContext) -> Iterable[str]:
    """P3: the house visit by at least the policy's number of investigators, none of them related."""
    needed = rules_of(ctx).investigators_min
    names = ctx.data.get("investigators")
    named = {n.strip() for n in names if isinstance(n, str) and n.strip()} if isinstance(names, list) else set()
    if len(named) < needed:
        yield (
            f"入户调查须至少 {needed} 名调查人员签字，请列出全部调查人员 / "
            f"the house visit needs at least {needed} investigators; list them all"
        )
    known: Mapping[str, str | None] = ctx.facts.get("investigator_hashes", {})
    unknown = sorted(n for n in named if n not in known)
    if unknown:
        listed = "、".join(unknown)
        yield (
            f"调查人员 {listed} 不是可为本村签署入户调查的在职工作人员，请从本村工作人员中选择 / "
            f"investigators {', '.join(unknown)} may not sign this village's house visit: pick them from "
            "the village's own officials"
        )
    related = relative_hashes(ctx.case.data)
    recused = set(ctx.case.data.get("recused") or [])
    for name in sorted(named):
        hashed = known.get(name)
        if (hashed and hashed in related) or name in recused:
            yield f"调查人员 {name} 与申请家庭有近亲属关系，须回避 / investigator {name} is related to the household"
    visit = _iso_date(ctx.data.get("visit_date"))
    submitted = ctx.facts.get("submitted_on")
    if visit is None:
        yield "请填写入户调查日期（YYYY-MM-DD）/ give the date of the house visit (YYYY-MM-DD)"
    elif visit > local_date(ctx.now):
        yield "入户调查日期不能晚于今天 / the house visit cannot be dated in the future"
    elif isinstance(submitted, date) and visit < submitted:
        yield (
            f"入户调查日期不能早于申请提交日期 {submitted.isoformat()} / the house visit cannot be dated before "
            f"the application was submitted ({submitted.isoformat()})"
        )


def appraisal_tally(ctx: GuardContext) -> Iterable[str]:
    """民主评议, where one was held: the quorum was present and the vote passed by the policy's share."""
    tally = ctx.data.get("appraisal")
    if tally is None:
        return
    raw = [tally.get(k) for k in ("for", "against", "abstain")] if isinstance(tally, Mapping) else []
    counts = [c for c in raw if isinstance(c, int) and not isinstance(c, bool) and c >= 0]
    if len(counts) != 3:
        yield "民主评议票数须为 for/against/abstain 三个非负整数 / appraisal needs for, against, abstain counts"
        return
    rule = rules_of(ctx).appraisal
    cast = sum(counts)
    if cast < rule.quorum:
        yield f"民主评议到会 {cast} 人，不足法定 {rule.quorum} 人 / appraisal: {cast} votes, quorum is {rule.quorum}"
    elif not rule.passes(counts[0], cast):
        yield (
            f"民主评议赞成 {counts[0]} 票（共 {cast} 票）未达通过比例 / "
            f"appraisal: {counts[0]} of {cast} votes in favour is not enough to pass"
        )


def _single_person_eligible(data: Mapping[str, Any], rules: Rules) -> bool:
    """E2 单人户: a severely disabled or seriously ill member of a household under 1.5x the standard."""
    people = members(data)
    if not people:
        return False
    per_head = Fraction(figures(data).income_fen, len(people))
    needy = any(m.get("severe_disability") or m.get("serious_illness") for m in people)
    return needy and per_head < rules.single_person_multiple * rules.dibao_standard_fen


def income_eligible(ctx: GuardContext) -> Iterable[str]:
    """E1: per-capita income below the standard (or the 单人户 rule of E2)."""
    rules = rules_of(ctx)
    people = members(ctx.case.data)
    if not people:
        return
    found = figures(ctx.case.data)
    per_head = Fraction(found.income_fen, len(people))
    if rules.income_qualifies(per_head) or _single_person_eligible(ctx.case.data, rules):
        return
    above_zh, above_en = beyond(rules)
    zh, en = found.note()
    yield (
        f"家庭月人均收入 {float(per_head) / 100:.2f} 元，{above_zh}当地低保标准 {rules.dibao_standard_fen / 100:.2f} 元"
        f"{times(rules)}，且不符合单人户条件{zh} / per-capita monthly income is {above_en} the local standard"
        f"{times(rules, en=True)}, and no member qualifies for single-person cover{en}"
    )


def beyond(rules: Rules) -> tuple[str, str]:
    """How income that fails E1 stands to the threshold, in the policy's terms."""
    return ("高于", "above") if rules.income_equal_qualifies else ("不低于", "not below")


def times(rules: Rules, *, en: bool = False) -> str:
    if rules.income_threshold_multiple == 1:
        return ""
    multiple = f"{float(rules.income_threshold_multiple):g}"
    return f" (x{multiple})" if en else f"的{multiple}倍"


def assets_within_rule(ctx: GuardContext) -> Iterable[str]:
    rules = rules_of(ctx)
    size = max(1, len(members(ctx.case.data)))
    found = figures(ctx.case.data)
    limit = rules.assets_limit_per_person_fen * size
    if found.assets_fen > limit:
        zh, en = found.note()
        yield (
            f"家庭财产 {found.assets_fen / 100:.2f} 元超过当地规定 {limit / 100:.2f} 元{zh} / "
            f"household assets exceed the local rule{en}"
        )


def monthly_cap_fen(data: Mapping[str, Any], rules: Rules, mode: str = "household") -> int:
    """The most a 低保 case may be paid a month: the standard times the household's size, or one standard
    for single-person cover (单人户)."""
    if mode == "single_person":
        return int(rules.payment_cap_multiple * rules.dibao_standard_fen)
    return int(rules.payment_cap_multiple * rules.dibao_standard_fen * max(1, len(members(data))))


def dibao_mode(ctx: GuardContext) -> Iterable[str]:
    """The decision's mode, one the household qualifies for (E1 whole household, E2 单人户)."""
    rules = rules_of(ctx)
    mode = ctx.data.get("mode", "household")
    if mode not in ("household", "single_person"):
        yield "保障方式须为 household 或 single_person / mode must be household or single_person"
        return
    people = members(ctx.case.data)
    found = figures(ctx.case.data)
    zh, en = found.note()
    per_head = Fraction(found.income_fen, max(1, len(people)))
    if mode == "household" and not rules.income_qualifies(per_head):
        above_zh, above_en = beyond(rules)
        yield (
            f"家庭月人均收入{above_zh}当地低保标准{times(rules)}，不能整户保障{zh} / per-capita income is {above_en} "
            f"the standard{times(rules, en=True)}; the whole household cannot be covered{en}"
        )
    elif mode == "single_person" and not _single_person_eligible(ctx.case.data, rules):
        yield (
            "单人户须有重残或重病成员，且家庭月人均收入低于标准的"
            f"{float(rules.single_person_multiple):g}倍{zh} / single-person cover needs a severely disabled or "
            f"ill member and income under {float(rules.single_person_multiple):g}x the standard{en}"
        )


def county_visit_done(ctx: GuardContext) -> Iterable[str]:
    """P13: a filed relative's case is visited by the county before it is decided."""
    if ctx.case.data.get("filed_relative") and not ctx.case.data.get("county_visit"):
        yield (
            "本案申请人与工作人员有近亲属关系（已备案），须由县级入户核查后方可审批 / "
            "a filed relative's case needs the county's house visit (record_county_visit) before approval"
        )


def county_visit_record(ctx: GuardContext) -> Iterable[str]:
    if _iso_date(ctx.data.get("visit_date")) is None:
        yield "请填写县级入户核查日期（YYYY-MM-DD）/ give the date of the county's visit (YYYY-MM-DD)"
    if not _text(ctx.data, "findings"):
        yield "请填写核查情况 / write what the visit found"


# --------------------------------------------------------------------------- emergency aid


def emergency_grant(ctx: GuardContext) -> Iterable[str]:
    """K5, K6, K7: within the township's ceiling, covered by the fund, once per cause per year; over the
    K6 cap or a second time in a year only by an explicit case-by-case county decision (county_override)."""
    rules = rules_of(ctx)
    amount = ctx.data.get("amount_fen")
    county = ctx.role == Role.COUNTY_OFFICER
    override = ctx.data.get("county_override") is True
    if not _positive_fen(amount):
        yield "请填写救助金额（分，正整数）/ give amount_fen (a positive whole number of fen)"
        return
    assert isinstance(amount, int)
    if override and not county:
        yield "只有县级可以批准同一事由年内再次救助 / only the county may override the once-a-year rule"
    if not county and amount > rules.emergency_township_ceiling_fen:
        yield (
            f"金额超过乡镇审批限额 {rules.emergency_township_ceiling_fen / 100:.2f} 元，请报县级审批 / "
            "the amount is over the township's limit; refer it to the county (refer_to_county)"
        )
    cap = rules.emergency_cap_multiple * rules.dibao_standard_fen
    if county and amount > cap and not override:
        yield (
            f"金额超过当地低保月标准的 {rules.emergency_cap_multiple} 倍（{cap / 100:.2f} 元），"
            "须县级一事一议并注明 county_override / "
            f"the amount is over {rules.emergency_cap_multiple} times the monthly standard; "
            "grant it only as a case-by-case county decision, with county_override: true"
        )
    balance = int(ctx.facts.get("fund_balance", 0))
    if amount > balance:
        where = "县级" if county else "乡镇"
        yield (
            f"{where}临时救助备用金余额 {balance / 100:.2f} 元不足 / the reserve fund's balance is too low"
            + ("" if county else "; deposit into it or refer the case to the county")
        )
    earlier = int(ctx.facts.get("grants_this_year", 0))
    if earlier >= rules.grants_per_cause_per_year and not (county and override):
        yield (
            "该家庭本年度已因同一事由获得临时救助，再次救助须县级批准（county_override）/ "
            "the household was already aided for this cause this year; only the county may grant again"
        )
