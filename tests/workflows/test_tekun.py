"""特困人员救助供养 (domain.md §4): who qualifies (T1, T2, T8), the investigation clock (T3), the decision's
terms (T5) and its standard (T9)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine.errors import DefinitionInvalid, GuardRejected
from tests.workflows.support import (
    TEKUN_APPROVE,
    TOWNSHIP_PASS,
    VILLAGE_PASS,
    Flow,
    audit_actions,
    household,
    id_number,
)
from workflows.policy import Policy
from workflows.reports import overdue_flags
from workflows.schemas import ApplicationIn

DAY = timedelta(days=1)
ELDERLY = "19500101"  # 76 on the test's day (2026-09-28)


def tekun(born: str = ELDERLY, incomes: tuple[int, ...] = (0,), **extra: Any) -> ApplicationIn:
    return household(aid_type="tekun", born=born, incomes=incomes, **extra)


def supporter(able: bool, serial: int = 90, name: str = "王大山") -> dict[str, Any]:
    return {"name": name, "id_number": id_number("19750303", serial), "relation": "子女", "able_to_support": able}


def refused_at_village(flow: Flow, now: datetime, payload: ApplicationIn) -> list[str]:
    case_id = flow.submit(payload, now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    return refused.value.reasons


def to_approval(flow: Flow, now: datetime, payload: ApplicationIn) -> int:
    case_id = flow.submit(payload, now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", flow.world.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    assert flow.state(case_id) == "township_approval"
    return case_id


def test_T1_all_three_conditions_each_refused_with_its_own_reason(flow: Flow, now: datetime) -> None:
    # 56 years old, no disability, income at the dibao standard, assets over the rule, an able supporter.
    reasons = refused_at_village(
        flow, now, tekun(born="19700101", incomes=(70_000,), assets_fen=2_520_001, supporters=[supporter(True)])
    )
    assert len(reasons) == 4
    capacity, income, assets, supported = reasons
    assert capacity.startswith("申请人 56 岁")
    assert "not without capacity to work (T2)" in capacity
    assert income.startswith("月人均收入 700.00 元")
    assert "not below the local dibao standard" in income
    assert assets.startswith("财产 25200.01 元超过特困供养财产规定")
    assert "特困 asset rule" in assets
    assert supported.startswith("法定赡养、抚养、扶养义务人 王大山")
    assert "able to support" in supported


def test_T1_each_condition_alone_is_enough_to_refuse(flow: Flow, now: datetime) -> None:
    assert [r[:6] for r in refused_at_village(flow, now, tekun(incomes=(70_000,), serial=2))] == ["月人均收入 "]
    assert [r[:4] for r in refused_at_village(flow, now, tekun(assets_fen=2_520_001, serial=3))] == ["财产 2"]
    only_supporter = refused_at_village(flow, now, tekun(serial=4, supporters=[supporter(True, 91)]))
    assert len(only_supporter) == 1
    assert "王大山" in only_supporter[0]


def test_T1_supporters_unable_to_support_do_not_bar_support(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(tekun(supporters=[supporter(False)]), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert flow.state(case_id) == "notice_village"
    case = flow.case(case_id)
    kept = case.data["supporters"][0]
    assert kept["able_to_support"] is False
    assert kept["relation"] == "子女"
    assert supporter(False)["id_number"] not in str(case.data), "the supporter's identity number is encrypted"
    assert flow.env.cipher.decrypt(kept["id_enc"]) == supporter(False)["id_number"]


@pytest.mark.parametrize(
    ("born", "disability", "qualifies"),
    [
        ("19660927", None, True),  # 60 the day before the act
        ("19660929", None, False),  # 60 the day after
        ("20080929", None, True),  # 17: 18 only the day after
        ("20080927", None, False),  # 18 the day before
        ("19700101", {"category": "intellectual", "grade": 2}, True),
        ("19700101", {"category": "mental", "grade": 1}, True),
        ("19700101", {"category": "physical", "grade": 1}, True),
        ("19700101", {"category": "physical", "grade": 2}, False),
        ("19700101", {"category": "visual", "grade": 1}, False),
    ],
)
def test_T2_no_capacity_to_work_by_age_on_the_day_of_the_act_or_a_listed_disability(
    flow: Flow, now: datetime, born: str, disability: dict[str, Any] | None, qualifies: bool
) -> None:
    payload = tekun(born=born, **({"disability": disability} if disability else {}))
    case_id = flow.submit(payload, now)
    if qualifies:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
        assert flow.state(case_id) == "notice_village"
    else:
        with pytest.raises(GuardRejected, match=r"not without capacity to work \(T2\)"):
            flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)


def test_T2_a_disability_category_or_grade_outside_the_lists_is_refused_at_intake() -> None:
    for bad in ({"category": "unknown", "grade": 1}, {"category": "mental", "grade": 5}):
        with pytest.raises(ValidationError):
            tekun(disability=bad)


def test_T3_the_investigation_is_due_within_fifteen_working_days_of_acceptance_and_a_breach_is_flagged(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = flow.submit(tekun(), now)
    flow.verify(case_id, now)  # the 核对 report in time (P4): only T3's clock is left to run out
    case = flow.case(case_id)
    assert case.deadline is not None, "the clock is the case's deadline"
    assert flow.env.calendar.working_days_between(case.state_entered_at, case.deadline) == 15
    dibao = flow.case(flow.submit(household(serial=5), now))
    assert dibao.deadline is None, "低保 has no such clock"
    assert dibao.id is not None
    flow.verify(dibao.id, now)
    flow.sweep(case.deadline - timedelta(minutes=1))
    assert flow.case(case_id).data["flags"] == []
    flow.sweep(case.deadline + timedelta(minutes=1))
    late = flow.case(case_id)
    assert late.state == "village_review", "a breach is flagged; the case waits for its investigation"
    assert [f["kind"] for f in late.data["flags"]] == ["investigation_overdue"]
    with flow.session(write=False) as s:
        assert audit_actions(s, case_id)[-1] == "flag_overdue"
        assert [(f.application_id, f.kind) for f in overdue_flags(s, actor=w.inspector)] == [
            (case_id, "investigation_overdue")
        ]


def test_T5_approval_sets_the_care_level_and_the_support_mode(flow: Flow, now: datetime) -> None:
    case_id = to_approval(flow, now, tekun())
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, {"monthly_amount_fen": 91_000})
    assert [r.split("/ ")[-1] for r in refused.value.reasons] == [
        "give care_level: independent, partial or dependent (T5)",
        "give support_mode: home or institution",
    ]
    with pytest.raises(GuardRejected, match="give care_level"):
        flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, {**TEKUN_APPROVE, "care_level": "some"})
    decided = {**TEKUN_APPROVE, "monthly_amount_fen": 91_000 + 80_000, "care_level": "dependent"}
    decided["support_mode"] = "institution"
    flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, decided)
    case = flow.case(case_id)
    assert (case.data["care_level"], case.data["support_mode"]) == ("dependent", "institution")
    assert case.data["approval"]["care_level"] == "dependent"
    assert case.data["monthly_amount_fen"] == 171_000


def test_T5_the_amount_is_capped_at_the_standard_plus_the_care_allowance_of_the_level(
    flow: Flow, now: datetime
) -> None:
    case_id = to_approval(flow, now, tekun())
    over = {**TEKUN_APPROVE, "care_level": "partial", "monthly_amount_fen": 91_000 + 30_000 + 1}
    with pytest.raises(GuardRejected, match="exceeds the cap of 121000 fen"):
        flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, over)
    independent = {**TEKUN_APPROVE, "monthly_amount_fen": 91_001}
    with pytest.raises(GuardRejected, match="exceeds the cap of 91000 fen"):
        flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, independent)
    flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, {**over, "monthly_amount_fen": 121_000})
    assert flow.state(case_id) == "notice_final"


def test_T8_a_minor_orphan_is_pointed_to_the_orphan_scheme(flow: Flow, now: datetime) -> None:
    reasons = refused_at_village(flow, now, tekun(born="20150101", orphan=True))
    assert len(reasons) == 1
    assert "孤儿基本生活保障" in reasons[0]
    assert "orphan scheme" in reasons[0]
    adult_orphan = flow.submit(tekun(serial=2, orphan=True), now)
    flow.act(adult_orphan, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert flow.state(adult_orphan) == "notice_village", "an adult is not in the orphan scheme"


def test_T8_the_orphan_scheme_is_named_again_at_the_decision(flow: Flow, now: datetime) -> None:
    # 17 at the village review, still 17 at the decision: a minor orphan is never approved for 特困.
    case_id = flow.submit(tekun(born="20090101"), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    with flow.session() as s:
        from engine.tables import Case

        case = s.get(Case, case_id)
        assert case is not None
        case.data = {**case.data, "orphan": True}  # found an orphan after the visit
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", flow.world.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    with pytest.raises(GuardRejected, match="孤儿基本生活保障"):
        flow.act(case_id, "approve", flow.world.boss2, now + 16 * DAY, TEKUN_APPROVE)


def test_T9_the_tekun_standard_is_1_3_times_the_dibao_standard_and_may_exceed_the_dibao_cap(
    flow: Flow, now: datetime
) -> None:
    rules = flow.env.rules("341122100201", now)
    assert rules.tekun.standard_fen == 91_000 == rules.dibao_standard_fen * 13 // 10
    case_id = flow.submit(tekun(), now)  # one person: the dibao cap would be 70,000 fen
    flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 91_000})
    assert flow.case(case_id).data["proposed_monthly_fen"] == 91_000
    dibao = flow.submit(household(incomes=(0,), serial=2), now)
    with pytest.raises(GuardRejected, match="exceeds the cap of 70000 fen"):
        flow.act(dibao, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 91_000})


def test_a_supporters_identity_number_must_be_valid() -> None:
    bad = {**supporter(False), "id_number": "341122197503030900"}
    with pytest.raises(ValidationError, match="身份证号码无效"):
        tekun(supporters=[bad])


def test_supporters_are_tekun_fields_and_refused_on_a_dibao_application() -> None:
    with pytest.raises(ValidationError, match="supporters"):
        household(supporters=[supporter(False)])


def test_T5_a_policy_whose_care_allowances_name_another_level_is_refused_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[standard.tekun_care_allowance_fen]\nextra = 5000\n")
    with pytest.raises(DefinitionInvalid, match="tekun_care_allowance_fen"):
        Policy.load(bad)
    bad.write_text("[standard.tekun_disability_grades]\nmental = [1, 5]\n")
    with pytest.raises(DefinitionInvalid, match="tekun_disability_grades"):
        Policy.load(bad)
