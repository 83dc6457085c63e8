"""支出型临时救助 on the normal channel (K1, K2, K5-K7), and the dibao income test's rigid-spending
deductions (E4) and low-income margin category (E3)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import select

from engine.access import SYSTEM
from engine.calendar import Delay, Unit
from engine.database import Database
from engine.errors import DefinitionInvalid, GuardRejected, InvalidInput
from engine.tables import Case
from notifications.messages import on_transition
from notifications.outbox import OutboxMessage
from tests.workflows.support import VILLAGE_PASS, Flow, World, household, make_env
from workflows.casefile_view import case_details
from workflows.notices import running_notices
from workflows.objections import raise_objection
from workflows.oversight.live import verify_live
from workflows.oversight.watchlist import watch_list
from workflows.payments import payment_lines, run_payments
from workflows.policy import Override, Policy
from workflows.reports import overdue_flags
from workflows.schemas import ApplicationIn

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
OPINION = {"opinion": "经入户调查，医疗支出超出家庭承受能力 / medical costs beyond what the household can bear"}


def temporary(flow: Flow, now: datetime, *, serial: int = 1, cause: str = "illness", amount: int = 200_000) -> int:
    payload = household(aid_type="temporary", serial=serial, cause=cause, amount_requested_fen=amount)
    return flow.submit(payload, now, actor=flow.world.boss)


def to_decision(flow: Flow, now: datetime, **kw: object) -> tuple[int, datetime]:
    """A temporary-aid case investigated a day after filing and through its notice: (id, when it ended)."""
    case_id = temporary(flow, now, **kw)  # type: ignore[arg-type]
    flow.act(case_id, "township_pass", flow.world.boss, now + DAY, OPINION)
    ends = flow.env.calendar.due(now + DAY, Delay(5, Unit.WORKING_DAYS))  # policy: a 5-wd notice
    flow.sweep(ends + HOUR)
    assert flow.state(case_id) == "township_approval"
    return case_id, ends + HOUR


def test_K1_temporary_aid_is_an_aid_type_of_its_own_with_an_amount_and_a_capped_cause() -> None:
    assert "temporary" in ApplicationIn.model_json_schema()["properties"]["aid_type"]["enum"]
    assert household(aid_type="temporary", amount_requested_fen=1000).cause == "other"
    with pytest.raises(ValidationError, match="cause must be one of illness, education, disability, other"):
        household(aid_type="temporary", cause="fire", amount_requested_fen=1000)
    with pytest.raises(ValidationError, match="temporary aid needs amount_requested_fen"):
        household(aid_type="temporary", cause="illness")


def test_K2_temporary_aid_is_investigated_posted_and_granted_by_the_township_within_its_limit(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id = temporary(flow, now)
    case = flow.case(case_id)
    assert (case.reference[:3], case.state) == ("ZC-", "temporary_review")
    due = flow.env.calendar.due(now, Delay(15, Unit.WORKING_DAYS))
    assert case.data["decision_due"] == due.isoformat()
    flow.act(case_id, "township_pass", w.boss, now + DAY, OPINION)
    assert flow.state(case_id) == "notice_temporary"
    with flow.session(write=False) as s:
        shown = running_notices(s, env=flow.env, now=now + 2 * DAY)
    assert [(n.aid_type, n.stage, n.amount_fen) for n in shown] == [("temporary", "temporary", 200_000)]
    flow.sweep(now + 2 * DAY)
    assert flow.state(case_id) == "notice_temporary", "the notice runs its 5 working days"
    ends = flow.env.calendar.due(now + DAY, Delay(5, Unit.WORKING_DAYS))
    flow.sweep(ends + HOUR)
    assert flow.state(case_id) == "township_approval"
    with pytest.raises(GuardRejected, match="another official must decide it"):
        flow.act(case_id, "grant_temporary", w.boss, ends + HOUR, {"amount_fen": 200_000})
    flow.act(case_id, "grant_temporary", w.boss2, ends + HOUR, {"amount_fen": 200_000})
    case = flow.case(case_id)
    assert case.state == "granted"
    assert case.data["temporary_grant"]["amount_fen"] == 200_000
    assert case.data["temporary_grant"]["cause"] == "illness"
    assert case.data["instalments"] == [{"month": "2026-11", "amount_fen": 200_000}]
    assert not case.data.get("flags"), "decided within the 15 working days: nothing flagged"


def test_K5_above_the_township_limit_the_township_refers_the_case_and_the_county_grants(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id, at = to_decision(flow, now, amount=500_000)
    with pytest.raises(GuardRejected, match="over the township's limit of 300000 fen; refer it to the county"):
        flow.act(case_id, "grant_temporary", w.boss2, at, {"amount_fen": 500_000})
    flow.act(case_id, "refer_to_county", w.boss2, at, {"reason": "超过乡镇审批限额 / over the township's limit"})
    assert flow.state(case_id) == "county_approval"
    with pytest.raises(GuardRejected, match="over 10 times the monthly standard"):
        flow.act(case_id, "grant_temporary", w.county, at + HOUR, {"amount_fen": 700_001})
    flow.act(case_id, "grant_temporary", w.county, at + HOUR, {"amount_fen": 500_000})
    case = flow.case(case_id)
    assert (case.state, case.data["temporary_grant"]["role"]) == ("granted", "county_officer")


def test_K6_the_cap_per_cause_per_year_refuses_a_second_grant_that_would_pass_it(flow: Flow, now: datetime) -> None:
    w = flow.world
    first, at = to_decision(flow, now, amount=300_000)
    flow.act(first, "grant_temporary", w.boss2, at, {"amount_fen": 300_000})
    second, at2 = to_decision(flow, at, amount=300_000)  # the same household, the same cause (illness)
    flow.act(second, "refer_to_county", w.boss2, at2, {"reason": "年内第二次 / a second time this year"})
    with pytest.raises(GuardRejected) as refused:
        flow.act(second, "grant_temporary", w.county, at2, {"amount_fen": 600_000, "county_override": True})
    assert list(refused.value.reasons) == [
        "该家庭本年度因同一事由（illness）已获救助 3000.00 元，加本次 6000.00 元超过年度上限 8000.00 元 / "
        "this year the household has been granted 300000 fen for the cause 'illness'; with this grant of 600000 "
        "fen it would exceed the yearly cap of 800000 fen (K6)"
    ]
    with pytest.raises(GuardRejected, match="already aided for the cause 'illness' this year"):  # K7
        flow.act(second, "grant_temporary", w.county, at2, {"amount_fen": 200_000})
    flow.act(second, "grant_temporary", w.county, at2, {"amount_fen": 500_000, "county_override": True})
    assert flow.state(second) == "granted", "the county's override of K7, within the yearly cap"
    other, at3 = to_decision(flow, at2, cause="education", amount=100_000)
    flow.act(other, "grant_temporary", w.boss2, at3, {"amount_fen": 100_000})
    assert flow.state(other) == "granted", "another cause has its own cap and count"


def test_K6_instalments_make_payment_lines_for_their_months_only(flow: Flow, now: datetime) -> None:
    case_id, at = to_decision(flow, now, amount=250_000)
    with pytest.raises(GuardRejected, match="instalments must be from 1 to 6 months"):
        flow.act(case_id, "grant_temporary", flow.world.boss2, at, {"amount_fen": 250_000, "instalments": 7})
    flow.act(case_id, "grant_temporary", flow.world.boss2, at, {"amount_fen": 250_000, "instalments": 3})
    made = {}
    for month, run_at in (
        ("2026-10", datetime(2026, 10, 20, 2, 0)),
        ("2026-11", datetime(2026, 10, 20, 2, 0)),
        ("2026-12", datetime(2026, 11, 20, 2, 0)),
        ("2027-01", datetime(2026, 12, 20, 2, 0)),
        ("2027-02", datetime(2027, 1, 20, 2, 0)),
    ):
        with flow.session() as s:
            run_payments(s, env=flow.env, month=month, actor=SYSTEM, now=run_at.replace(tzinfo=now.tzinfo))
            made[month] = [
                (line.application_id, line.amount_fen) for line in payment_lines(s, actor=flow.world.boss, month=month)
            ]
    assert made == {
        "2026-10": [],
        "2026-11": [(case_id, 83_334)],
        "2026-12": [(case_id, 83_333)],
        "2027-01": [(case_id, 83_333)],
        "2027-02": [],
    }
    with flow.session(write=False) as s:
        verdict = verify_live(s)
    assert verdict.ok, verdict.why  # each line is the instalment its grant set for that month
    assert verdict.payment_lines_bad == []


def test_K2_the_15_working_day_clock_runs_through_the_notice_and_is_flagged_when_missed(
    flow: Flow, now: datetime
) -> None:
    case_id = temporary(flow, now)
    due = flow.env.calendar.due(now, Delay(15, Unit.WORKING_DAYS))
    flow.sweep(due - HOUR)
    assert not flow.case(case_id).data.get("flags")
    flow.sweep(due + HOUR)
    flags = flow.case(case_id).data["flags"]
    assert [(f["kind"], f["state"]) for f in flags] == [("temporary_overdue", "temporary_review")]
    flow.act(case_id, "township_pass", flow.world.boss, due + DAY, OPINION)
    ends = flow.env.calendar.due(due + DAY, Delay(5, Unit.WORKING_DAYS))
    flow.sweep(ends + HOUR)
    assert flow.state(case_id) == "township_approval"
    flags = flow.case(case_id).data["flags"]
    assert [(f["kind"], f["state"]) for f in flags] == [
        ("temporary_overdue", "temporary_review"),
        ("temporary_overdue", "township_approval"),
    ], "still undecided at the decision: flagged there too"
    with flow.session(write=False) as s:
        listed = overdue_flags(s, actor=flow.world.inspector)
    assert [(f.kind, f.state) for f in listed if f.application_id == case_id] == [
        ("temporary_overdue", "township_approval"),
        ("temporary_overdue", "temporary_review"),
    ]


def _dibao(incomes: tuple[int, ...], **extra: object) -> ApplicationIn:
    return household(incomes=incomes, **extra)  # type: ignore[arg-type]


MEDICAL = {"medical_fen": 240_000, "disability_care_fen": 0, "education_fen": 0}  # 20,000 fen a month


def test_E4_rigid_medical_spending_deducted_makes_a_household_eligible(flow: Flow, now: datetime) -> None:
    w = flow.world
    plain = flow.submit(_dibao((80_000, 70_000), serial=1), now)  # 75,000 a head: over 70,000
    with pytest.raises(GuardRejected, match="per-capita monthly income is above the local standard"):
        flow.act(plain, "village_pass", w.clerk, now, VILLAGE_PASS)
    spent = flow.submit(_dibao((80_000, 70_000), serial=2, rigid_spending=MEDICAL), now)  # 65,000 a head
    flow.act(spent, "village_pass", w.clerk, now, VILLAGE_PASS)
    assert flow.state(spent) == "notice_village"
    assert flow.case(spent).data["rigid_spending"] == MEDICAL


def test_E4_a_refusal_after_the_deduction_says_what_was_deducted(flow: Flow, now: datetime) -> None:
    spent = {"medical_fen": 60_000, "disability_care_fen": 0, "education_fen": 0}  # 5,000 fen a month
    case_id = flow.submit(_dibao((80_000, 70_000), rigid_spending=spent), now)  # 72,500 a head after it
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert list(refused.value.reasons) == [
        "家庭月人均收入 725.00 元（已扣除刚性支出每月 50.00 元：医疗），高于当地低保标准 700.00 元，"
        "且不符合单人户条件 / per-capita monthly income (after deducting rigid spending of 5000 fen a month: "
        "medical, E4) is above the local standard, and no member qualifies for single-person cover"
    ]


def test_E4_without_the_policy_deduction_the_same_spending_counts_for_nothing(
    db: Database, world: World, now: datetime
) -> None:
    env = make_env(Override("", date(2020, 1, 1), {"standard": {"expenditure_deductions": ["education"]}}))
    flow = Flow(db, env, world)
    spent = flow.submit(_dibao((80_000, 70_000), rigid_spending=MEDICAL), now)
    with pytest.raises(GuardRejected, match="per-capita monthly income is above the local standard"):
        flow.act(spent, "village_pass", world.clerk, now, VILLAGE_PASS)


def test_E3_a_household_between_1x_and_1_5x_may_be_decided_into_the_margin_category(flow: Flow, now: datetime) -> None:
    w = flow.world
    margin = flow.submit(_dibao((90_000, 90_000), serial=1), now)  # 1.29x the standard
    flow.act(
        margin,
        "village_reject",
        w.boss,
        now,
        {"reason": "收入高于低保标准 / income above the standard", "margin": True},
    )
    case = flow.case(margin)
    assert (case.state, case.data["category"]) == ("rejected", "margin")
    assert case.data["margin"]["per_capita_income_fen"] == 90_000
    assert case.data["refusal"]["reason"] == "收入高于低保标准 / income above the standard"
    with flow.session(write=False) as s:
        watched = {
            item.application_id: item.reasons for item in watch_list(s, env=flow.env, actor=w.boss, now=now + DAY)
        }
    assert watched[margin][0] == "已认定为低保边缘家庭 / decided a low-income margin household (E3)"
    richer = flow.submit(_dibao((110_000, 110_000), serial=2), now)  # 1.57x: above the margin
    with pytest.raises(GuardRejected, match="not a low-income margin household"):
        flow.act(richer, "village_reject", w.boss, now, {"reason": "收入过高 / income too high", "margin": True})
    poorer = flow.submit(_dibao((20_000, 0), serial=3), now)  # under the standard: 低保, not margin
    with pytest.raises(GuardRejected, match=r"not from 1 to 1\.5 times the standard"):
        flow.act(poorer, "village_reject", w.boss, now, {"reason": "其他原因 / another reason", "margin": True})
    tekun = flow.submit(household(aid_type="tekun", incomes=(0,), serial=4, born="19500101"), now)
    with pytest.raises(GuardRejected, match="cannot be decided into the low-income margin category"):
        flow.act(tekun, "village_reject", w.boss, now, {"reason": "其他原因 / another reason", "margin": True})


def test_E3_the_township_decision_may_decide_the_margin_category_instead_of_single_person_cover(
    flow: Flow, now: datetime
) -> None:
    """1.29x the standard with a severely disabled member: through the village review as 单人户 (E2); the
    township decides the household a margin household instead."""
    payload = _dibao((90_000, 90_000), severe_disability=True)
    case_id = flow.to("township_approval", payload, now)
    reason = {"reason": "不予单人保，认定为低保边缘家庭 / no single-person cover: a margin household"}
    flow.act(case_id, "deny", flow.world.boss2, now + 16 * DAY, {**reason, "margin": True})
    case = flow.case(case_id)
    assert (case.state, case.data["category"], case.data["margin"]["deducted_fen"]) == ("rejected", "margin", 0)


def test_K2_an_objection_during_the_notice_is_checked_then_the_notice_runs_again(flow: Flow, now: datetime) -> None:
    case_id = temporary(flow, now)
    flow.act(case_id, "township_pass", flow.world.boss, now + DAY, OPINION)
    with flow.session(write=False) as s:
        (notice,) = running_notices(s, env=flow.env, now=now + 2 * DAY)
    with flow.session() as s:
        raise_objection(
            s,
            env=flow.env,
            notice_id=notice.id,
            reason="该户有商铺出租 / rents out a shop",
            contact=None,
            now=now + 2 * DAY,
        )
    assert flow.state(case_id) == "objection_review"
    finding = {"finding": "经核实无商铺 / verified: no shop"}
    flow.act(case_id, "dismiss_objection", flow.world.boss2, now + 3 * DAY, finding)
    assert flow.state(case_id) == "notice_temporary", "a fresh notice"
    with flow.session(write=False) as s:
        details = case_details(s, env=flow.env, case=s.get(Case, case_id), reveal=False)
    assert details["decision_due"] == flow.case(case_id).data["decision_due"]
    assert [n["stage"] for n in details["notices"]] == ["temporary", "temporary"]


def test_K2_an_emergency_that_is_really_spending_driven_is_converted_to_temporary_aid(
    flow: Flow, now: datetime
) -> None:
    reported = flow.submit(household(aid_type="emergency", cause="illness"), now, actor=flow.world.boss)
    with pytest.raises(
        InvalidInput, match="the cause of temporary aid must be one of illness, education, disability, other"
    ):
        flow.act(reported, "convert_to_standard", flow.world.boss, now, {"aid_type": "temporary", "cause": "fire"})
    flow.act(reported, "convert_to_standard", flow.world.boss, now, {"aid_type": "temporary"})
    link = flow.case(reported).data["converted_to"]
    converted = flow.case(link["id"])
    assert (converted.workflow, converted.state, converted.reference[:3]) == ("temporary", "temporary_review", "ZC-")
    assert (converted.data["cause"], converted.data["amount_requested_fen"]) == ("illness", 200_000)
    assert converted.data["converted_from"]["id"] == reported


def test_K1_the_household_is_told_of_the_grant_by_mail_under_its_aid_types_name(flow: Flow, now: datetime) -> None:
    payload = household(aid_type="temporary", cause="illness", amount_requested_fen=100_000, email="wang@example.org")
    case_id = flow.submit(payload, now, actor=flow.world.boss)
    flow.act(case_id, "township_pass", flow.world.boss, now + DAY, OPINION)
    ends = flow.env.calendar.due(now + DAY, Delay(5, Unit.WORKING_DAYS)) + HOUR
    flow.sweep(ends)
    record = flow.act(case_id, "grant_temporary", flow.world.boss2, ends, {"amount_fen": 100_000})
    with flow.session() as s:
        on_transition(s, flow.env, record)
    with flow.session(write=False) as s:
        mail = s.exec(select(OutboxMessage)).one()
    assert "（支出型临时救助）" in mail.body
    assert "(temporary aid (spending-driven))" in mail.body


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[temporary.cause_cap_fen_year]\nfire = 100\n", "cause_cap_fen_year"),
        ("[temporary]\ninstalments_max_months = 0\n", "instalments_max_months"),
        ('[standard]\nexpenditure_deductions = ["housing"]\n', "expenditure_deductions"),
        ("[standard]\nmargin_income_multiple = 0.8\n", "margin_income_multiple"),
    ],
)
def test_K6_E3_E4_a_bad_temporary_or_income_test_policy_is_refused_at_load(
    tmp_path: Path, toml: str, named: str
) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text(toml)
    with pytest.raises(DefinitionInvalid, match=named):
        Policy.load(bad)
