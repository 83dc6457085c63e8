"""家庭经济状况核对: the county's report per member before the township's opinion (P4), the household's
dispute and the re-check (P5), a fresh report at each periodic review (D6), and the guards judging on the
checked figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from engine.access import Actor
from engine.authorize import available_actions
from engine.database import Database
from engine.errors import GuardRejected, RoleNotPermitted
from engine.tables import TimerRow
from tests.workflows.support import APPROVE, TOWNSHIP_PASS, VILLAGE_PASS, Flow, World, household, make_env
from workflows.casefile_view import case_details
from workflows.policy import Override
from workflows.reports import overdue_flags

DAY = timedelta(days=1)


def report(member: int, income: int = 20_000, assets: int = 500_000, findings: str = "与申报一致") -> dict[str, object]:
    return {"member": member, "monthly_income_fen": income, "assets_fen": assets, "findings": findings}


def offered(flow: Flow, case_id: int, who: Actor, at: datetime) -> list[str]:
    """The acts the case page offers `who` now."""
    case = flow.case(case_id)
    rules = flow.env.rules(case.region_code, at)
    return available_actions(flow.env.definition_for(case), case, who, now=at, facts={"rules": rules})


def to_township_review(flow: Flow, now: datetime, case_id: int) -> None:
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    assert flow.state(case_id) == "township_review"


def test_P4_the_township_opinion_waits_for_a_report_on_every_member_and_names_who_is_missing(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)  # 王小英 and 王家1
    asked = flow.case(case_id).data["verification"]
    assert (asked["requested_at"], asked["members"]) == (now.isoformat(), {}), "asked for at acceptance"
    to_township_review(flow, now, case_id)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    assert "以下家庭成员尚无核对报告：王小英、王家1" in refused.value.detail
    assert "no 核对 (cross-check) report is recorded for: 王小英, 王家1" in refused.value.detail
    flow.act(case_id, "record_verification", w.county, now + 8 * DAY, report(1, income=20_000))
    with pytest.raises(GuardRejected) as still:
        flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    assert "recorded for: 王家1;" in still.value.detail
    flow.act(case_id, "record_verification", w.county, now + 8 * DAY, report(2, income=0, assets=0))
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    assert flow.state(case_id) == "notice_township"
    checks = flow.case(case_id).data["verification"]["members"]
    assert sorted((c["name"], c["source"], c["by"]) for c in checks.values()) == [
        ("王家1", "entered", "county"),
        ("王小英", "entered", "county"),
    ]


def test_P4_a_report_older_than_the_policy_allows_no_longer_counts(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.verify(case_id, now)
    to_township_review(flow, now, case_id)
    late = now + 91 * DAY
    with pytest.raises(GuardRejected, match="more than 90 days old: it must be checked again"):
        flow.act(case_id, "township_pass", w.boss, late, TOWNSHIP_PASS)
    flow.verify(case_id, late)
    flow.act(case_id, "township_pass", w.boss, late, TOWNSHIP_PASS)


def test_P4_where_policy_does_not_require_a_report_the_opinion_does_not_wait(
    db: Database, world: World, now: datetime
) -> None:
    optional = Override("", date(2020, 1, 1), {"verification": {"required_before_opinion": False}})
    flow = Flow(db, make_env(optional), world)
    case_id = flow.submit(household(), now)
    to_township_review(flow, now, case_id)
    flow.act(case_id, "township_pass", world.boss, now + 8 * DAY, TOWNSHIP_PASS)
    assert flow.state(case_id) == "notice_township"


def _flag_due(flow: Flow, case_id: int) -> datetime:
    with flow.session(write=False) as s:
        timer = s.exec(
            select(TimerRow).where(TimerRow.case_id == case_id, TimerRow.action == "flag_verification_overdue")
        ).one()
        return timer.due_at


def test_P4_a_check_not_started_within_three_working_days_of_the_request_is_flagged(flow: Flow, now: datetime) -> None:
    w = flow.world
    waiting = flow.submit(household(), now)
    started = flow.submit(household(serial=2), now)
    due = _flag_due(flow, waiting)
    assert flow.env.calendar.working_days_between(now, due) == 3
    flow.act(started, "record_verification", w.county, due - DAY, report(1))  # started in time
    flow.sweep(due - timedelta(minutes=1))
    assert flow.case(waiting).data["flags"] == []
    flow.sweep(due + timedelta(minutes=1))
    assert [f["kind"] for f in flow.case(waiting).data["flags"]] == ["verification_overdue"]
    assert flow.case(started).data["flags"] == [], "a check under way is not flagged"
    with flow.session(write=False) as s:
        assert [(f.application_id, f.kind) for f in overdue_flags(s, actor=w.inspector)] == [
            (waiting, "verification_overdue")
        ]


def test_P4_the_county_records_a_report_the_village_never_and_the_township_only_as_a_recheck(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "record_verification", w.clerk, now, report(1))
    with pytest.raises(GuardRejected, match="only as the re-check of a disputed one"):
        flow.act(case_id, "record_verification", w.boss, now, report(1))
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "record_verification", w.county, now, {"member": 3, "findings": "?"})
    assert "name the member checked (member: their position on the file, 1 to 2)" in refused.value.detail
    assert "monthly_income_fen" in refused.value.detail
    assert "assets_fen" in refused.value.detail
    assert flow.case(case_id).data["verification"]["members"] == {}


def test_P4_the_guards_judge_eligibility_on_the_checked_income_and_say_so(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)  # declared: 200 yuan a month for two people
    flow.verify(case_id, now, {1: {"monthly_income_fen": 150_000, "findings": "社保缴费记录显示在职 / employed"}})
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    assert "家庭月人均收入 750.00 元" in refused.value.detail
    assert "按核对结果：核对月收入 1500.00 元高于申报 200.00 元" in refused.value.detail
    assert "by the cross-check: checked monthly income 1500.00 yuan, above the declared 200.00" in refused.value.detail


def test_P4_the_guards_judge_assets_on_the_checked_figures(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)  # declared assets 5,000 yuan; the rule allows 50,400 for two
    flow.verify(case_id, now, {1: {"assets_fen": 6_000_000, "findings": "名下车辆一辆 / owns a car"}})
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    assert "家庭财产 60000.00 元超过当地规定 50400.00 元" in refused.value.detail
    assert "checked assets 60000.00 yuan, above the declared 5000.00" in refused.value.detail


def test_P4_the_single_person_mode_rests_on_the_checked_income(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(severe_disability=True), now)
    flow.verify(case_id, now, {1: {"monthly_income_fen": 150_000}})  # 750 yuan a head: not the whole household
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)  # a severely disabled member: 单人户 (E2)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "approve", w.boss2, now + 16 * DAY, APPROVE)
    assert "不能整户保障（按核对结果：核对月收入 1500.00 元高于申报 200.00 元）" in refused.value.detail
    flow.act(
        case_id, "approve", w.boss2, now + 16 * DAY, {**APPROVE, "monthly_amount_fen": 70_000, "mode": "single_person"}
    )
    assert flow.case(case_id).data["mode"] == "single_person"


def test_P5_the_household_disputes_a_report_with_evidence_and_the_township_rechecks_it(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = flow.submit(household(), now, actor=w.applicant)
    flow.verify(case_id, now, {1: {"assets_fen": 4_000_000, "findings": "定期存款 40000 元 / deposits"}})
    to_township_review(flow, now, case_id)
    with pytest.raises(GuardRejected, match="give the grounds and evidence"):
        flow.act(case_id, "dispute_verification", w.applicant, now + 8 * DAY, {"member": 1})
    assert "record_verification" not in offered(flow, case_id, w.boss2, now + 8 * DAY), "no re-check to make"
    evidence = {"member": 1, "evidence": "该存款为村集体代管资金，附村委会证明 / village funds held in trust"}
    flow.act(case_id, "dispute_verification", w.applicant, now + 8 * DAY, evidence)
    assert "record_verification" in offered(flow, case_id, w.boss2, now + 8 * DAY)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    assert "the household disputes the report on 王小英: re-check it and record it again" in refused.value.detail
    with pytest.raises(GuardRejected, match="the report on 王家1 is not disputed"):
        flow.act(case_id, "record_verification", w.boss2, now + 9 * DAY, report(2, income=0, assets=0))
    flow.act(case_id, "record_verification", w.boss2, now + 9 * DAY, report(1, findings="复查：存款属集体资金"))
    flow.act(case_id, "township_pass", w.boss, now + 9 * DAY, TOWNSHIP_PASS)
    assert flow.state(case_id) == "notice_township"
    kept = flow.case(case_id).data["verification"]
    assert [d["evidence"] for d in kept["disputes"]] == [evidence["evidence"]]
    assert [c["by"] for c in kept["members"].values()] == ["boss2", "county"]


def test_P5_a_dispute_of_the_whole_report_after_the_opinion_holds_the_decision(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to("township_approval", household(), now)
    flow.act(case_id, "dispute_verification", w.boss3, now + 15 * DAY, {"evidence": "申请人提交工资流水 / pay slips"})
    with pytest.raises(GuardRejected, match="disputes the report on 王小英, 王家1"):
        flow.act(case_id, "approve", w.boss2, now + 16 * DAY, APPROVE)
    flow.verify(case_id, now + 16 * DAY)  # the county checks the household again
    flow.act(case_id, "approve", w.boss2, now + 16 * DAY, APPROVE)
    assert flow.state(case_id) == "notice_final"


def test_P5_there_is_nothing_to_dispute_before_a_report(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now, actor=w.applicant)
    with pytest.raises(GuardRejected, match="no report is recorded yet"):
        flow.act(case_id, "dispute_verification", w.applicant, now, {"evidence": "收入有误"})
    flow.act(case_id, "record_verification", w.county, now, report(1))
    with pytest.raises(GuardRejected, match="there is no report on 王家1 to dispute yet"):
        flow.act(case_id, "dispute_verification", w.applicant, now, {"member": 2, "evidence": "收入有误"})


def test_D6_each_periodic_review_asks_for_a_fresh_report_before_it_ends(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(household(), now)
    later = now + 60 * DAY
    flow.act(case_id, "start_review", w.boss, later)
    data = flow.case(case_id).data
    assert data["verification"]["requested_at"] == later.isoformat()
    assert data["verification"]["members"] == {}, "the review asks anew"
    assert len(data["verifications"]) == 1, "the application's report is kept"
    assert len(data["verifications"][0]["members"]) == 2
    with pytest.raises(GuardRejected, match=r"recorded for: 王小英, 王家1; .* before the review ends"):
        flow.act(case_id, "continue", w.boss, later + DAY, {"note": "无变化"})
    with pytest.raises(GuardRejected, match="before the review ends"):
        flow.act(case_id, "adjust", w.boss, later + DAY, {"monthly_amount_fen": 40_000, "reason": "收入增加"})
    flow.verify(case_id, later + DAY)
    flow.act(case_id, "continue", w.boss, later + DAY, {"note": "无变化"})
    assert flow.state(case_id) == "active"


def test_D6_a_review_whose_check_does_not_start_in_time_is_flagged(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(household(), now)
    later = now + 60 * DAY
    flow.act(case_id, "start_review", w.boss, later)
    flow.sweep(later + 10 * DAY)
    assert [f["kind"] for f in flow.case(case_id).data["flags"]] == ["verification_overdue"]


def test_P4_the_case_shows_the_report_by_member_never_by_identity_hash(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now, actor=w.applicant)
    flow.verify(case_id, now, {1: {"monthly_income_fen": 30_000}})
    flow.act(case_id, "dispute_verification", w.applicant, now + DAY, {"member": 1, "evidence": "工资有误"})
    with flow.session(write=False) as s:
        from engine.tables import Case

        case = s.get(Case, case_id)
        assert case is not None
        shown = case_details(s, env=flow.env, case=case, reveal=False)["verification"]
        hashes = [m["id_hash"] for m in case.data["members"]]
    assert [(m["member"], m["name"], m["declared_income_fen"], m["monthly_income_fen"]) for m in shown["members"]] == [
        (1, "王小英", 20_000, 30_000),
        (2, "王家1", 0, 0),
    ]
    assert [m["disputed"] for m in shown["members"]] == [True, False]
    assert shown["checked_income_fen"] == 30_000
    assert [(d["member"], d["evidence"]) for d in shown["disputes"]] == [("王小英", "工资有误")]
    assert not any(h in str(shown) for h in hashes)
