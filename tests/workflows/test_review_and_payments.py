"""Active beneficiaries: reviews, amount changes, 渐退 and exit; monthly payment runs."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from engine.access import SYSTEM
from engine.database import Database
from engine.errors import GuardRejected, InvalidInput, RoleNotPermitted
from engine.tables import AuditEntry
from tests.workflows.support import APPROVE, VILLAGE_PASS, Flow, World, household, local, make_env
from workflows.payments import payment_lines, run_payments
from workflows.policy import Override
from workflows.reports import overdue_flags

DAY = timedelta(days=1)


def active(flow: Flow, now: datetime, **kw: object) -> int:
    """A case that became active on 2026-10-21 (the final notice's end)."""
    return flow.to_active(household(**kw), now)  # type: ignore[arg-type]


def pay(flow: Flow, month: str, now: datetime) -> tuple[int, int, int]:
    with flow.session() as s:
        result = run_payments(s, env=flow.env, month=month, actor=SYSTEM, now=now)
        return result.created, result.already, result.total_fen


def test_a_stable_household_is_reviewed_after_twelve_months_by_a_timer(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)
    activated = now + 23 * DAY
    assert flow.case(case_id).data["review_class"] == "stable"
    flow.sweep(activated + 364 * DAY)
    assert flow.state(case_id) == "active"
    flow.sweep(activated + 366 * DAY)
    assert flow.state(case_id) == "under_review"
    flow.verify(case_id, activated + 367 * DAY)  # D6: the review's fresh 核对 report
    flow.act(case_id, "continue", flow.world.boss, activated + 370 * DAY, {"note": "无变化 / no change"})
    case = flow.case(case_id)
    assert case.state == "active"
    assert case.data["reviews"][0]["outcome"] == "continue"


def test_D1_capable_workers_are_reviewed_every_six_months(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now, can_work=True)
    activated = now + 23 * DAY
    assert flow.case(case_id).data["review_class"] == "unstable"
    flow.sweep(activated + 180 * DAY)
    assert flow.state(case_id) == "active"
    flow.sweep(activated + 183 * DAY)
    assert flow.state(case_id) == "under_review"


def test_D2_a_review_without_material_change_keeps_the_amount(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)  # active on 2026-10-21 at 50,000 fen a month
    flow.act(case_id, "start_review", flow.world.boss, now + 30 * DAY)
    flow.verify(case_id, now + 30 * DAY)
    flow.act(case_id, "continue", flow.world.boss, now + 31 * DAY, {"note": "无变化 / no change"})
    case = flow.case(case_id)
    assert (case.state, case.data["monthly_amount_fen"]) == ("active", 50_000)
    assert "adjustments" not in case.data
    assert pay(flow, "2026-12", now + 70 * DAY) == (1, 0, 50_000)


def test_D3_a_household_that_will_not_cooperate_is_suspended_and_flagged_after_six_months(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = active(flow, now)  # active on 2026-10-21
    flow.act(case_id, "start_review", w.boss, local("2026-11-02"))
    with pytest.raises(GuardRejected, match="reason"):
        flow.act(case_id, "suspend", w.boss, local("2026-11-20"), {})
    flow.act(
        case_id, "suspend", w.boss, local("2026-11-20"), {"reason": "多次联系未配合入户核查 / would not take part"}
    )
    assert flow.state(case_id) == "suspended"
    assert pay(flow, "2026-12", local("2026-12-01"))[0] == 0, "not paid while suspended"
    flow.sweep(local("2027-05-19"))
    assert flow.case(case_id).data["flags"] == []
    flow.sweep(local("2027-05-21"))
    late = flow.case(case_id)
    assert late.state == "suspended", "flagged for the township to decide, never ended by itself"
    assert [f["kind"] for f in late.data["flags"]] == ["suspended_too_long"]
    with flow.session(write=False) as s:
        assert [f.kind for f in overdue_flags(s, actor=w.inspector)] == ["suspended_too_long"]
    flow.act(case_id, "resume", w.boss, local("2027-05-22"), {"note": "已配合 / cooperating now"})
    assert flow.state(case_id) == "under_review"
    flow.verify(case_id, local("2027-05-23"))
    flow.act(case_id, "continue", w.boss, local("2027-05-25"))
    assert pay(flow, "2027-06", local("2027-06-01"))[0] == 1, "paid again once the review is done"


def test_a_suspended_case_may_be_terminated(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)
    flow.act(case_id, "start_review", flow.world.boss, local("2026-11-02"))
    flow.act(case_id, "suspend", flow.world.boss, local("2026-11-20"), {"reason": "联系不上 / unreachable"})
    flow.act(
        case_id,
        "terminate",
        flow.world.boss,
        local("2027-06-01"),
        {"reason": "中止满六个月 / suspended six months", "ground": "non_cooperation"},
    )
    assert flow.state(case_id) == "exited"


def test_adjust_records_the_amount_before_and_after(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)
    later = now + 60 * DAY
    flow.act(case_id, "start_review", flow.world.boss, later)
    flow.verify(case_id, later)
    with pytest.raises(GuardRejected):
        flow.act(case_id, "adjust", flow.world.boss, later, {"monthly_amount_fen": 30_000})
    flow.act(case_id, "adjust", flow.world.boss, later, {"monthly_amount_fen": 30_000, "reason": "收入增加"})
    case = flow.case(case_id)
    assert case.state == "active"
    assert case.data["monthly_amount_fen"] == 30_000
    change = case.data["adjustments"][0]
    assert (change["before"], change["after"], change["by"]) == (50_000, 30_000, "boss")


def test_E6_the_grace_period_pays_on_then_ends_in_exit(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)
    start = local("2027-01-10")
    flow.act(case_id, "start_review", flow.world.boss, start)
    flow.act(
        case_id, "begin_exit", flow.world.boss, start, {"reason": "务工收入超过标准 / earnings above the standard"}
    )
    assert flow.state(case_id) == "grace_period"
    assert pay(flow, "2027-06", local("2027-06-10"))[0] == 1, "paid during the grace period"
    flow.sweep(local("2028-01-09"))
    assert flow.state(case_id) == "grace_period"
    flow.sweep(local("2028-01-11"))
    case = flow.case(case_id)
    assert case.state == "exited"
    assert case.data["exited"]["how"] == "grace_period_ended"
    assert pay(flow, "2028-01", local("2028-01-20"))[0] == 1, "paid for the month it ended in"
    assert pay(flow, "2028-02", local("2028-02-20"))[0] == 0


def test_terminating_a_dibao_case_exits_at_once(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)
    with pytest.raises(GuardRejected):
        flow.act(case_id, "terminate", flow.world.boss, now + 40 * DAY, {})
    flow.act(case_id, "terminate", flow.world.boss, now + 40 * DAY, {"reason": "死亡 / deceased", "ground": "death"})
    case = flow.case(case_id)
    assert case.state == "exited"
    assert case.data["exited"]["reason"] == "死亡 / deceased"


def test_T7_terminating_tekun_support_needs_the_county_and_is_posted_for_seven_days_first(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = active(flow, now, aid_type="tekun", born="19500101", incomes=(0,))
    at = now + 40 * DAY
    flow.act(
        case_id, "terminate", w.boss, at, {"reason": "恢复劳动能力 / able to work again", "ground": "work_capacity"}
    )
    assert flow.state(case_id) == "termination_approval", "the township verifies; the county approves"
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "approve_termination", w.boss, at + DAY, {})
    flow.act(case_id, "approve_termination", w.county, at + DAY, {"note": "核实无误 / verified"})
    assert flow.state(case_id) == "notice_termination"
    flow.sweep(at + 8 * DAY - timedelta(seconds=1))
    assert flow.state(case_id) == "notice_termination"
    flow.sweep(at + 8 * DAY)
    case = flow.case(case_id)
    assert case.state == "exited"
    assert case.data["exited"]["reason"] == "恢复劳动能力 / able to work again"
    assert case.data["termination"]["approved"]["by"] == w.county.username


def test_T7_the_county_may_refuse_a_termination_with_its_reason_and_support_goes_on(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = active(flow, now, aid_type="tekun", born="19500101", incomes=(0,))  # active on 2026-10-21
    flow.act(
        case_id,
        "terminate",
        w.boss,
        now + 40 * DAY,
        {"reason": "收入超标 / income too high", "ground": "no_longer_qualifies"},
    )
    with pytest.raises(GuardRejected, match="reason"):
        flow.act(case_id, "reject_termination", w.county, now + 41 * DAY, {})
    assert pay(flow, "2026-11", now + 41 * DAY)[0] == 1, "paid while the county decides"
    flow.act(case_id, "reject_termination", w.county, now + 42 * DAY, {"reason": "收入为一次性补偿 / one-off income"})
    case = flow.case(case_id)
    assert case.state == "active"
    assert case.data["termination"] is None
    assert case.data["terminations_refused"][0]["refused"]["reason"] == "收入为一次性补偿 / one-off income"


def test_a_beneficiary_may_leave_voluntarily(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)
    flow.act(case_id, "voluntary_exit", flow.world.boss, now + 50 * DAY, {"reason": "自愿退出"})
    assert flow.case(case_id).data["exited"]["how"] == "voluntary"


def test_P10_payments_start_the_month_after_activation_and_a_month_is_paid_once(flow: Flow, now: datetime) -> None:
    case_id = active(flow, now)  # active on 2026-10-21
    assert pay(flow, "2026-10", now + 30 * DAY) == (0, 0, 0)
    assert pay(flow, "2026-11", now + 40 * DAY) == (1, 0, 50_000)
    assert pay(flow, "2026-11", now + 41 * DAY) == (0, 1, 50_000), "a repeated run adds none"
    with flow.session(write=False) as s:
        lines = payment_lines(s, actor=flow.world.boss, month="2026-11")
        assert [(p.application_id, p.amount_fen, p.status) for p in lines] == [(case_id, 50_000, "pending")]
        assert payment_lines(s, actor=flow.world.far_boss, month="2026-11") == []
        runs = s.exec(select(AuditEntry).where(AuditEntry.action == "payment_run")).all()
        assert len(runs) == 3


def test_a_month_can_be_paid_at_most_one_month_ahead(flow: Flow, now: datetime) -> None:
    active(flow, now)  # active on 2026-10-21
    assert pay(flow, "2026-12", local("2026-11-25"))[0] == 1, "next month's payroll is prepared ahead"
    with pytest.raises(InvalidInput, match="2026-12"):
        pay(flow, "2027-01", local("2026-11-25"))
    assert pay(flow, "2027-01", local("2026-12-31"))[0] == 1, "across the year's end"


def test_emergency_grants_are_not_payment_lines_and_bad_months_are_refused(flow: Flow, now: datetime) -> None:
    from workflows.fund import deposit_fund

    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code="341122100000", amount_fen=500_000, actor=SYSTEM, now=now)
    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    assert pay(flow, "2026-10", now) == (0, 0, 0)
    with pytest.raises(InvalidInput):
        pay(flow, "2026-13", now)


def test_adjust_is_capped_at_the_standard_times_the_household_size_and_nothing_over_it_is_paid(
    flow: Flow, now: datetime
) -> None:
    case_id = active(flow, now)  # two members, standard 70,000 fen: at most 140,000 fen a month
    later = now + 60 * DAY
    flow.act(case_id, "start_review", flow.world.boss, later)
    flow.verify(case_id, later)
    for amount in (10**12 - 1, 140_001):
        with pytest.raises(GuardRejected, match="exceeds the cap of 140000 fen"):
            flow.act(case_id, "adjust", flow.world.boss, later, {"monthly_amount_fen": amount, "reason": "收入减少"})
    assert flow.state(case_id) == "under_review"
    assert pay(flow, "2026-12", later) == (1, 0, 50_000), "the amount paid is still the one decided"
    flow.act(case_id, "adjust", flow.world.boss, later, {"monthly_amount_fen": 140_000, "reason": "收入减少"})
    assert flow.case(case_id).data["monthly_amount_fen"] == 140_000


def test_adjust_of_a_single_person_case_is_capped_at_one_standard(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(
        household(incomes=(100_000, 0), severe_disability=True),
        now,
        approve={
            "monthly_amount_fen": 70_000,
            "mode": "single_person",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    )
    later = now + 60 * DAY
    flow.act(case_id, "start_review", w.boss, later)
    flow.verify(case_id, later)
    with pytest.raises(GuardRejected, match="exceeds the cap of 70000 fen"):
        flow.act(case_id, "adjust", w.boss, later, {"monthly_amount_fen": 70_001, "reason": "病情加重"})
    flow.act(case_id, "adjust", w.boss, later, {"monthly_amount_fen": 70_000, "reason": "病情加重"})
    assert flow.case(case_id).data["monthly_amount_fen"] == 70_000


@pytest.mark.parametrize("amount", [10**30, 10**12, -1, "50000", True, 500.5])
def test_an_amount_in_fen_that_is_not_a_sane_whole_number_is_refused_before_any_guard(
    flow: Flow, now: datetime, amount: object
) -> None:
    case_id = active(flow, now)
    later = now + 60 * DAY
    flow.act(case_id, "start_review", flow.world.boss, later)
    before = flow.case(case_id).version
    with pytest.raises(InvalidInput, match="monthly_amount_fen"):
        flow.act(case_id, "adjust", flow.world.boss, later, {"monthly_amount_fen": amount, "reason": "x"})
    after = flow.case(case_id)
    assert (after.version, after.state, after.data["monthly_amount_fen"]) == (before, "under_review", 50_000)


def test_nested_amounts_in_fen_are_checked_as_well(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    data = {**VILLAGE_PASS, "extra": [{"bonus_fen": 10**30}]}
    with pytest.raises(InvalidInput, match=r"extra\[0\]\.bonus_fen"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, data)


def test_a_deposit_into_the_fund_must_be_below_the_bound(flow: Flow, now: datetime) -> None:
    from workflows.fund import deposit_fund, fund_balance

    with pytest.raises(InvalidInput), flow.session() as s:
        deposit_fund(s, env=flow.env, township_code="341122100000", amount_fen=10**30, actor=SYSTEM, now=now)
    with pytest.raises(InvalidInput), flow.session() as s:
        deposit_fund(s, env=flow.env, township_code="341122100000", amount_fen=True, actor=SYSTEM, now=now)
    with flow.session(write=False) as s:
        assert fund_balance(s, "341122100000") == 0


def test_how_far_ahead_a_month_may_be_run_is_policy(db: Database, world: World, now: datetime) -> None:
    ahead = Override("", date(2020, 1, 1), {"payments": {"run_months_ahead": 2}})
    flow = Flow(db, make_env(ahead), world)
    active(flow, now)
    assert pay(flow, "2027-01", local("2026-11-25"))[0] == 1, "two months ahead where the region allows it"
    with pytest.raises(InvalidInput, match="2 个月"):
        pay(flow, "2027-02", local("2026-11-25"))


def test_a_persons_monthly_cap_is_a_multiple_of_the_standard_set_by_policy(
    db: Database, world: World, now: datetime
) -> None:
    lower = Override("", date(2020, 1, 1), {"standard": {"payment_cap_multiple": 0.5}})
    flow = Flow(db, make_env(lower), world)
    case_id = flow.to("township_approval", household(), now)  # two people: at most 70,000 fen a month
    over = {**APPROVE, "monthly_amount_fen": 70_001}
    with pytest.raises(GuardRejected, match=r"上限 700\.00 元"):
        flow.act(case_id, "approve", world.boss2, now + 16 * DAY, over)
    flow.act(case_id, "approve", world.boss2, now + 16 * DAY, {**APPROVE, "monthly_amount_fen": 70_000})
