"""特困人员救助供养 (domain.md §4): support for a person with no capacity to work, no source of living
and no supporter able to support them (T1, T2); a minor orphan goes to the orphan scheme instead (T8).

The person supported is the applicant. What the application adds to the common fields:
- `supporters`: the 法定赡养、抚养、扶养义务人 [{name, id_number, relation, able_to_support}]; an empty list
  says there is none. Their identity numbers are kept encrypted, like the members'.
- `orphan`: true when both of the applicant's parents are dead or declared missing (父母双亡或宣告失踪); with
  an applicant under 18 it points the case to 孤儿基本生活保障 (T8). The house visit checks the declaration.
- a member's `disability` {category, grade} (a common field of members) counts for T2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.calendar import local_date
from engine.definition import GuardContext
from workflows.aidtypes import AidType, PersonCipher
from workflows.fields import IdNumber, Name
from workflows.guards import age_on, figures, members, rules_of
from workflows.policy import CARE_LEVELS, Rules, TekunRules

SUPPORT_MODES = ("home", "institution")  # 分散供养 at home, 集中供养 in an institution
ORPHAN_SCHEME = "孤儿基本生活保障"


class Supporter(BaseModel):
    """法定义务人: a person the law obliges to support the applicant, and whether they are able to."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    id_number: IdNumber
    relation: str = Field(min_length=1, max_length=20)
    able_to_support: bool = Field(strict=True)


class TekunIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supporters: list[Supporter] = Field(default_factory=list, max_length=30)
    orphan: bool = Field(default=False, strict=True)


class TekunFile(BaseModel):
    """What a 特困 case keeps beyond the common case file (its supporters are a common field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orphan: bool = False
    care_level: Literal["independent", "partial", "dependent"] | None = None  # T5
    support_mode: Literal["home", "institution"] | None = None  # T5


def _case_data(intake: BaseModel, person: PersonCipher) -> dict[str, Any]:
    assert isinstance(intake, TekunIntake)
    return {
        "supporters": [
            {**person(s.name, s.id_number), "relation": s.relation, "able_to_support": s.able_to_support}
            for s in intake.supporters
        ],
        "orphan": intake.orphan,
    }


def _tekun(ctx: GuardContext) -> TekunRules:
    return rules_of(ctx).tekun


def _applicant(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """The applicant's member record (the person supported)."""
    hashed = (data.get("applicant") or {}).get("id_hash")
    return next((m for m in members(data) if m.get("id_hash") == hashed), {})


def _age(ctx: GuardContext) -> int | None:
    """The applicant's age on the day of the act (from the identity number; facts looked up before firing)."""
    births: Mapping[str, date] = ctx.facts.get("birth_dates") or {}
    born = births.get(str((ctx.case.data.get("applicant") or {}).get("id_hash")))
    return age_on(born, local_date(ctx.now)) if born is not None else None


def no_capacity_to_work(ctx: GuardContext) -> Iterable[str]:
    """T2 无劳动能力: 60 or over, under 18, or a disability of a category and grade the policy lists."""
    rules = _tekun(ctx)
    age = _age(ctx)
    if age is not None and (age >= rules.elderly_age or age < rules.minor_age):
        return
    disability = _applicant(ctx.case.data).get("disability") or {}
    if disability.get("grade") in rules.disability_grades.get(str(disability.get("category")), frozenset()):
        return
    listed = ", ".join(f"{c} {sorted(g)}" for c, g in sorted(rules.disability_grades.items()))
    shown = "?" if age is None else age
    yield (
        f"申请人 {shown} 岁，未满 {rules.elderly_age} 岁且已满 {rules.minor_age} 岁，亦无政策所列类别和等级的残疾"
        f"（{listed}），不属于无劳动能力 / the applicant is {shown}: neither {rules.elderly_age} or over nor under "
        f"{rules.minor_age}, and has no disability of a category and grade the policy lists ({listed}); "
        "not without capacity to work (T2)"
    )


def no_source_of_living(ctx: GuardContext) -> Iterable[str]:
    """T1 无生活来源: income below the dibao standard, and assets within the 特困 rule."""
    rules = rules_of(ctx)
    size = max(1, len(members(ctx.case.data)))
    found = figures(ctx.case.data)  # the 核对 figures where recorded (P4)
    zh, en = found.note()
    per_head = Fraction(found.income_fen, size)
    if per_head >= rules.dibao_standard_fen:
        yield (
            f"月人均收入 {float(per_head) / 100:.2f} 元，不低于当地低保标准 {rules.dibao_standard_fen / 100:.2f} 元，"
            f"不属于无生活来源{zh} / per-capita monthly income is not below the local dibao standard: there is a "
            f"source of living (T1){en}"
        )
    limit = rules.tekun.assets_months_per_person * rules.dibao_standard_fen * size
    if found.assets_fen > limit:
        yield (
            f"财产 {found.assets_fen / 100:.2f} 元超过特困供养财产规定 {limit / 100:.2f} 元，不属于无生活来源{zh} / "
            f"assets exceed the 特困 asset rule ({limit} fen): there is a source of living (T1){en}"
        )


def no_able_supporter(ctx: GuardContext) -> Iterable[str]:
    """T1: no legal supporter, or none able to support."""
    able = [str(s.get("name", "")) for s in ctx.case.data.get("supporters") or [] if s.get("able_to_support")]
    if able:
        yield (
            f"法定赡养、抚养、扶养义务人 {'、'.join(able)} 有履行义务的能力 / the legal supporter(s) "
            f"{', '.join(able)} are able to support the applicant (T1)"
        )


def not_a_minor_orphan(ctx: GuardContext) -> Iterable[str]:
    """T8: a minor who is an orphan goes to the orphan scheme instead."""
    age = _age(ctx)
    if ctx.case.data.get("orphan") and age is not None and age < _tekun(ctx).minor_age:
        yield (
            f"申请人为未满 {_tekun(ctx).minor_age} 周岁的孤儿，应纳入{ORPHAN_SCHEME}，不纳入特困供养 / "
            f"the applicant is an orphan under {_tekun(ctx).minor_age}: apply to the orphan scheme "
            f"({ORPHAN_SCHEME}) instead (T8)"
        )


def care_terms(ctx: GuardContext) -> Iterable[str]:
    """T5: the decision sets the care level (照料护理等级) and where the person is supported."""
    if ctx.data.get("care_level") not in CARE_LEVELS:
        yield (
            "特困供养须确定照料护理等级 care_level（independent 生活自理、partial 部分失能、dependent 完全失能）/ "
            "give care_level: independent, partial or dependent (T5)"
        )
    if ctx.data.get("support_mode") not in SUPPORT_MODES:
        yield (
            "特困供养须确定供养方式 support_mode（home 分散供养、institution 集中供养）/ "
            "give support_mode: home or institution"
        )


def _cap(data: Mapping[str, Any], rules: Rules, terms: Mapping[str, Any]) -> int:
    """T5, T9: the 特困 standard plus the care allowance of the level (before one is set, the highest)."""
    allowances = rules.tekun.care_allowance_fen
    level = str(terms.get("care_level"))
    return rules.tekun.standard_fen + allowances.get(level, max(allowances.values()))


AID_TYPE = AidType(
    key="tekun",
    workflow="standard",
    prefix="TK",
    name_zh="特困人员救助供养",
    name_en="extreme-poverty support",
    intake=TekunIntake,
    case_data=_case_data,
    eligibility=(no_capacity_to_work, no_source_of_living, no_able_supporter, not_a_minor_orphan),
    amount_cap=_cap,
    cap_basis=(
        "特困供养标准加所定照料护理等级的护理补贴，村级拟定时按最高等级 / the 特困 standard plus the care "
        "allowance of the level set; the highest level for the village's proposal"
    ),
    decision=(care_terms,),
    decision_terms=("care_level", "support_mode"),
    investigation=lambda rules: rules.tekun.investigation,
    minors_posted=False,
    file_model=TekunFile,
)
