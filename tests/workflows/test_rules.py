"""One test per sourced ([S]) rule of domain.md that the aid workflows carry, named after the rule."""

from __future__ import annotations

from collections import deque
from datetime import date, datetime, timedelta

import pytest

from engine.access import SYSTEM
from engine.database import Database
from engine.errors import GuardRejected, InvalidInput, TransitionNotAllowed
from tests.factories import TOWNSHIP
from tests.workflows.support import (
    APPROVE,
    TOWNSHIP_PASS,
    VILLAGE_PASS,
    Flow,
    World,
    household,
    id_number,
    make_env,
)
from workflows import registry
from workflows.fund import deposit_fund
from workflows.policy import Override, Policy

DAY = timedelta(days=1)


def test_P1_missing_items_are_listed_at_once(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected, match="list every missing item at once"):
        flow.act(case_id, "request_info", flow.world.clerk, now, {"missing": [], "due": "2026-10-20"})
    with pytest.raises(InvalidInput, match="wrong type or value in the action's data: missing"):
        flow.act(case_id, "request_info", flow.world.clerk, now, {"missing": "户口簿", "due": "2026-10-20"})
    items = ["户口簿 / household register", "收入证明 / proof of income", "残疾证 / disability card"]
    flow.act(case_id, "request_info", flow.world.clerk, now, {"missing": items, "due": "2026-10-20"})
    assert flow.case(case_id).data["info_request"]["missing"] == items


def test_P3_house_visit_needs_two_investigators(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected, match="at least 2 investigators"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "investigators": ["clerk"]})
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert flow.case(case_id).data["village_pass"]["investigators"] == ["clerk", "clerk2"]


def test_P6_township_opinion_is_due_within_ten_working_days(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    case = flow.case(case_id)
    assert case.deadline == flow.env.calendar.add_working_days(case.state_entered_at, 10)


def test_P7_notice_lasts_seven_days(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert flow.sweep(now + 7 * DAY - timedelta(seconds=1)).fired == 0
    assert flow.state(case_id) == "notice_village"
    flow.sweep(now + 7 * DAY)
    assert flow.state(case_id) == "township_review"


def test_P7_a_region_may_count_its_notice_in_working_days(db: Database, world: World, now: datetime) -> None:
    stages = [{"name": "village", "label": "公示", "length": 7, "unit": "working_days"}]
    flow = Flow(db, make_env(Override(TOWNSHIP[:9], date(2020, 1, 1), {"standard": {"notice_stages": stages}})), world)
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", world.clerk, now, VILLAGE_PASS)  # Monday 28 Sep 2026, before National Day
    ends = flow.env.calendar.add_working_days(now, 7)
    assert ends > now + 14 * DAY, "the National Day holiday does not count"
    flow.sweep(ends - timedelta(seconds=1))
    assert flow.state(case_id) == "notice_village"
    flow.sweep(ends)
    assert flow.state(case_id) == "township_review"


def test_P8_decision_is_due_within_ten_working_days_after_a_clean_notice(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", flow.world.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    case = flow.case(case_id)
    assert case.state == "township_approval"
    assert case.deadline == flow.env.calendar.add_working_days(now + 15 * DAY, 10)
    flow.sweep(case.deadline)
    late = flow.case(case_id)
    assert late.state == "township_approval", "never approved by itself"
    assert [f["kind"] for f in late.data["flags"]] == ["decision_overdue"]


def test_P11_a_refusal_carries_its_written_reason(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected, match="write the reason"):
        flow.act(case_id, "village_reject", flow.world.boss, now, {"reason": "  "})
    flow.act(
        case_id, "village_reject", flow.world.boss, now, {"reason": "人均收入高于标准 / income above the standard"}
    )
    assert flow.case(case_id).data["refusal"]["reason"] == "人均收入高于标准 / income above the standard"


def test_P13_county_visits_filed_relatives(flow: Flow, now: datetime) -> None:
    w = flow.world
    # A declared relative need not hold an account here: any declaration files the case (单独登记).
    declared = [{"name": "李科员", "id_number": id_number("19800101", 777), "relation": "舅舅"}]
    case_id = flow.submit(household(relatives=declared), now)
    assert flow.case(case_id).data["filed_relative"] is True
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    with pytest.raises(GuardRejected, match=r"\(record_county_visit\)"):
        flow.act(case_id, "approve", w.boss2, now + 16 * DAY, APPROVE)
    with pytest.raises(GuardRejected, match="what the visit found"):
        flow.act(case_id, "record_county_visit", w.county, now + 16 * DAY, {"visit_date": "2026-10-13"})
    flow.act(
        case_id,
        "record_county_visit",
        w.county,
        now + 16 * DAY,
        {"visit_date": "2026-10-13", "findings": "情况属实 / as declared"},
    )
    assert flow.state(case_id) == "township_approval", "the visit is recorded, the case stays"
    flow.act(case_id, "approve", w.boss2, now + 16 * DAY, APPROVE)
    assert flow.state(case_id) == "notice_final"


def test_P15_no_household_becomes_active_without_investigation_and_decision() -> None:
    for definition in registry.definitions_of(Policy.load(None)).values():
        if definition.key != "standard":
            continue
        # Every path from the start to `active` passes village_pass and approve. A node remembers where
        # the case must come back to: provide_info returns to the state that asked, a decided objection
        # to its own notice (dismissed) or to the review before it (upheld).
        before = {
            "notice_village": "village_review",
            "notice_township": "township_review",
            "notice_final": "township_approval",
            "notice_termination": "under_review",
        }
        for needed in ("village_pass", "approve"):
            start = (definition.initial, "")
            seen, queue = {start}, deque([start])
            while queue:
                state, memory = queue.popleft()
                for t in definition.available_from(state):
                    if t.action == needed:
                        continue
                    dests: tuple[str, ...] = t.destinations()
                    if t.action == "provide_info" or t.action == "dismiss_objection":
                        dests = (memory,)
                    elif t.action == "uphold_objection":
                        dests = (before[memory],)
                    remembers = t.action in ("request_info", "raise_objection")
                    for dest in dests:
                        node = (dest, state if remembers else memory)
                        if node not in seen:
                            seen.add(node)
                            queue.append(node)
            reached = {state for state, _ in seen}
            assert "active" not in reached, needed


def test_P15_approval_is_not_available_before_the_review(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(TransitionNotAllowed):
        flow.act(case_id, "approve", flow.world.boss2, now, APPROVE)


def test_E1_income_must_be_within_the_local_standard_equal_included(flow: Flow, now: datetime) -> None:
    above = flow.submit(household(incomes=(70_001,)), now)
    with pytest.raises(GuardRejected, match="above the local standard"):
        flow.act(above, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    at = flow.submit(household(incomes=(70_000,), serial=2), now)
    flow.act(at, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert flow.state(at) == "notice_village", "方案9: income equal to the standard qualifies (1倍(含))"


def test_E2_single_person_mode_under_one_and_a_half_standard(flow: Flow, now: datetime) -> None:
    w = flow.world
    # Two members, 100,000 fen a head: above the standard (70,000), below 1.5x (105,000).
    case_id = flow.submit(household(incomes=(200_000, 0), severe_disability=True), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    with pytest.raises(GuardRejected, match="whole household cannot be covered"):
        flow.act(case_id, "approve", w.boss2, now + 16 * DAY, APPROVE)
    with pytest.raises(GuardRejected, match="one person's standard"):
        flow.act(
            case_id,
            "approve",
            w.boss2,
            now + 16 * DAY,
            {
                "monthly_amount_fen": 70_001,
                "mode": "single_person",
                "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
            },
        )
    flow.act(
        case_id,
        "approve",
        w.boss2,
        now + 16 * DAY,
        {
            "monthly_amount_fen": 70_000,
            "mode": "single_person",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    )
    assert flow.case(case_id).data["mode"] == "single_person"
    no_need = flow.submit(household(incomes=(200_000, 0), serial=2), now)
    with pytest.raises(GuardRejected, match="single-person cover"):
        flow.act(no_need, "village_pass", w.clerk, now, VILLAGE_PASS)
    too_rich = flow.submit(household(incomes=(210_000, 0), serial=3, serious_illness=True), now)
    with pytest.raises(GuardRejected):
        flow.act(too_rich, "village_pass", w.clerk, now, VILLAGE_PASS)


def test_K4_emergency_paperwork_is_due_within_five_days(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=1_000_000, actor=SYSTEM, now=now)
    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    assert flow.case(case_id).deadline == now + 5 * DAY


def test_K4_emergency_aid_is_decided_within_24_hours_or_the_delay_is_flagged(flow: Flow, now: datetime) -> None:
    from datetime import timedelta

    from workflows.reports import overdue_flags

    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=1_000_000, actor=SYSTEM, now=now)
    prompt = flow.submit(household(aid_type="emergency", serial=1), now, actor=flow.world.boss)
    slow = flow.submit(household(aid_type="emergency", serial=5), now, actor=flow.world.boss)
    assert flow.case(slow).deadline == now + timedelta(hours=24)
    flow.act(prompt, "grant_emergency", flow.world.boss, now + timedelta(hours=3), {"amount_fen": 100_000})
    assert flow.sweep(now + timedelta(hours=24) - timedelta(seconds=1)).fired == 0
    flow.sweep(now + timedelta(hours=24))
    late = flow.case(slow)
    assert late.state == "emergency_reported", "flagged, still to be decided"
    assert [f["kind"] for f in late.data["flags"]] == ["first_aid_overdue"]
    assert flow.case(prompt).data.get("flags") == []
    with flow.session(write=False) as s:
        found = [(f.application_id, f.kind) for f in overdue_flags(s, actor=flow.world.inspector)]
    assert found == [(slow, "first_aid_overdue")]


def test_K4_a_referral_to_the_county_is_decided_within_24_hours_of_the_report(flow: Flow, now: datetime) -> None:
    from datetime import timedelta

    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    flow.act(
        case_id, "refer_to_county", flow.world.boss, now + timedelta(hours=2), {"reason": "超出限额 / over the limit"}
    )
    assert flow.case(case_id).deadline == now + timedelta(hours=24), "the clock runs from the report"
    assert flow.sweep(now + timedelta(hours=24) - timedelta(seconds=1)).fired == 0
    flow.sweep(now + timedelta(hours=24))
    late = flow.case(case_id)
    assert late.state == "county_emergency_approval"
    assert [f["kind"] for f in late.data["flags"]] == ["first_aid_overdue"]


def test_K6_emergency_cap_ten_times_standard(db: Database, world: World, now: datetime) -> None:
    generous = Override("", date(2020, 1, 1), {"emergency": {"township_limit_fen": 5_000_000}})
    flow = Flow(db, make_env(generous), world)
    assert flow.env.policy.rules(TOWNSHIP, date(2026, 9, 28)).emergency_township_ceiling_fen == 700_000
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=5_000_000, actor=SYSTEM, now=now)
    case_id = flow.submit(household(aid_type="emergency"), now, actor=world.boss)
    with pytest.raises(GuardRejected, match=r"7000\.00"):
        flow.act(case_id, "grant_emergency", world.boss, now, {"amount_fen": 700_001})
    flow.act(case_id, "grant_emergency", world.boss, now, {"amount_fen": 700_000})
    assert flow.state(case_id) == "emergency_paid"


def test_T4_tekun_notices_last_seven_days_too(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(aid_type="tekun", born="19500101", incomes=(0,)), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY - timedelta(seconds=1))
    assert flow.state(case_id) == "notice_village"
    flow.sweep(now + 7 * DAY)
    assert flow.state(case_id) == "township_review"
