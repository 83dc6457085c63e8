"""低保 最低生活保障: per household, below the local standard (E1), or one member alone (E2 单人户).

E4: where the policy lists them (`expenditure_deductions`), the household's rigid spending over the prior
12 months (medical, disability care, education; the application's `rigid_spending`, in fen a year) is
deducted, a twelfth a month, from its income before the test. E3: a household whose per-capita income
(after those deductions) is from 1x up to the policy's `margin_income_multiple` of the standard may be
decided into the 低保边缘 (low-income margin) category: `deny` with `margin: true`; it is not paid 低保
but recorded as a margin household (`category: "margin"`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.definition import GuardContext
from workflows import guards as g
from workflows.aidtypes import AidType, PersonCipher
from workflows.policy import Rules

MARGIN = "margin"
_SPENDING_ZH = {"medical": "医疗", "disability_care": "残疾康复护理", "education": "教育"}
_FEN_A_YEAR = Field(default=0, strict=True, ge=0, le=100_000_000)


class RigidSpending(BaseModel):
    """刚性支出 over the prior 12 months, in fen (E4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    medical_fen: int = _FEN_A_YEAR
    disability_care_fen: int = _FEN_A_YEAR
    education_fen: int = _FEN_A_YEAR


class DibaoIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rigid_spending: RigidSpending | None = None


class DibaoFile(BaseModel):
    """What a 低保 case keeps beyond the common case file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rigid_spending: RigidSpending | None = None
    category: Literal["margin"] | None = None  # E3: decided into 低保边缘
    margin: dict[str, Any] | None = None  # the decision that did it: who, when, the income counted


def _case_data(intake: BaseModel, _person: PersonCipher) -> dict[str, Any]:
    assert isinstance(intake, DibaoIntake)
    return {"rigid_spending": intake.rigid_spending.model_dump()} if intake.rigid_spending else {}


def deduction_fen(data: Mapping[str, Any], rules: Rules) -> int:
    """E4: the rigid spending the policy lets the test deduct, a month (a twelfth of the year's)."""
    spent = data.get("rigid_spending") or {}
    yearly = sum(int(spent.get(f"{kind}_fen") or 0) for kind in sorted(rules.expenditure_deductions))
    return yearly // 12


def counted_per_head(data: Mapping[str, Any], rules: Rules) -> Fraction:
    """Per-capita monthly income as the test counts it: the household's income (the 核对 report's figures
    where one is recorded, P4) less E4's deductions."""
    size = max(1, len(g.members(data)))
    return Fraction(max(g.figures(data).income_fen - deduction_fen(data, rules), 0), size)


def _deducted_words(data: Mapping[str, Any], rules: Rules) -> tuple[str, str]:
    deducted = deduction_fen(data, rules)
    if not deducted:
        return "", ""
    spent = data.get("rigid_spending") or {}
    listed = [k for k in sorted(rules.expenditure_deductions) if spent.get(f"{k}_fen")]
    kinds, names = ", ".join(listed), "、".join(_SPENDING_ZH[k] for k in listed)
    return (
        f"（已扣除刚性支出每月 {deducted / 100:.2f} 元：{names}）",
        f" (after deducting rigid spending of {deducted} fen a month: {kinds}, E4)",
    )


def income_eligible(ctx: GuardContext) -> Iterable[str]:
    """E1 on the income less E4's deductions (or E2's 单人户 rule), the deduction told in the reason."""
    rules = g.rules_of(ctx)
    if not g.members(ctx.case.data):
        return
    per_head = counted_per_head(ctx.case.data, rules)
    if rules.income_qualifies(per_head) or not list(g.income_eligible(ctx)):
        return
    zh, en = _deducted_words(ctx.case.data, rules)
    checked_zh, checked_en = g.figures(ctx.case.data).note()
    above_zh, above_en = g.beyond(rules)
    yield (
        f"家庭月人均收入 {float(per_head) / 100:.2f} 元{zh}，"
        f"{above_zh}当地低保标准 {rules.dibao_standard_fen / 100:.2f} 元{g.times(rules)}，且不符合单人户条件"
        f"{checked_zh} / per-capita monthly income{en} is {above_en} the local standard"
        f"{g.times(rules, en=True)}, and no member qualifies for single-person cover{checked_en}"
    )


def mode_terms(ctx: GuardContext) -> Iterable[str]:
    """The decision's mode: the whole household when its counted income (E4) is below the standard."""
    rules = g.rules_of(ctx)
    household = ctx.data.get("mode", "household") == "household"
    if household and rules.income_qualifies(counted_per_head(ctx.case.data, rules)):
        return
    yield from g.dibao_mode(ctx)


def margin_fits(ctx: GuardContext) -> Iterable[str]:
    """E3: a refusal into the margin category only for income from 1x up to the policy's multiple."""
    if ctx.data.get("margin") is not True:
        return
    rules = g.rules_of(ctx)
    per_head = counted_per_head(ctx.case.data, rules)
    top = rules.margin_income_multiple * rules.dibao_standard_fen
    if rules.income_qualifies(per_head) or per_head > top:
        zh, en = _deducted_words(ctx.case.data, rules)
        yield (
            f"家庭月人均收入 {float(per_head) / 100:.2f} 元{zh}"
            f"不在低保标准的 1 至 {float(rules.margin_income_multiple):g} 倍"
            f"（{rules.dibao_standard_fen / 100:.2f}–{float(top) / 100:.2f} 元）之间，不能认定为低保边缘家庭 / "
            f"per-capita monthly income{en} is not from 1 to {float(rules.margin_income_multiple):g} times the "
            "standard: not a low-income margin household (E3)"
        )


def margin_record(ctx: GuardContext) -> Mapping[str, Any]:
    if ctx.data.get("margin") is not True:
        return {}
    rules = g.rules_of(ctx)
    per_head = counted_per_head(ctx.case.data, rules)
    return {
        "category": MARGIN,
        "margin": {
            "by": ctx.actor.username,
            "at": ctx.now.isoformat(),
            "per_capita_income_fen": int(per_head),
            "deducted_fen": deduction_fen(ctx.case.data, rules),
        },
    }


def _cap(data: Mapping[str, Any], rules: Rules, terms: Mapping[str, Any]) -> int:
    return g.monthly_cap_fen(data, rules, str(terms.get("mode") or "household"))


AID_TYPE = AidType(
    key="dibao",
    workflow="standard",
    prefix="DB",
    name_zh="最低生活保障",
    name_en="minimum living allowance",
    intake=DibaoIntake,
    case_data=_case_data,
    eligibility=(income_eligible, g.assets_within_rule),
    amount_cap=_cap,
    cap_basis=(
        "低保标准×家庭人数，单人户为一人标准 / the standard times the household size; one person's standard "
        "for single-person cover"
    ),
    decision=(mode_terms,),
    refusal=(margin_fits,),
    refusal_record=margin_record,
    file_model=DibaoFile,
)
