"""The clocks that run from acceptance (P6, P9), the delivery of a refusal (P11), the appeal window the
decision carries (P12), the written basis of an approval, and deadlines marked provisional."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.calendar import local_date
from engine.errors import GuardRejected, RoleNotPermitted, TransitionNotAllowed
from tests.workflows.support import TOWNSHIP_PASS, VILLAGE_PASS, Flow, household, local
from workflows.base import aware
from workflows.reports import overdue_flags
from workflows.tracking import case_clocks, household_view, step_provisional

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
REASON = {"reason": "家庭人口多、需补充核查 / a large household needs further checks"}


def _flags(flow: Flow, case_id: int, kind: str) -> list[dict[str, str]]:
    return [f for f in flow.case(case_id).data.get("flags") or [] if f["kind"] == kind]


def _total(flow: Flow, case_id: int, at: datetime) -> dict[str, object]:
    with flow.session(write=False) as s:
        case = flow.case(case_id)
        found = [c.to_json() for c in case_clocks(s, flow.env, case, at) if c.clock == "total"]
    assert len(found) == 1, found
    return found[0]


def test_P6_the_township_opinion_is_due_10_working_days_from_acceptance_not_from_reaching_the_township(
    flow: Flow, now: datetime
) -> None:
    cal = flow.env.calendar
    case_id = flow.submit(household(), now)
    passed = now + 5 * DAY  # the village takes its time: those working days count against the township
    flow.act(case_id, "village_pass", flow.world.clerk, passed, VILLAGE_PASS)
    flow.sweep(passed + 7 * DAY)
    case = flow.case(case_id)
    assert case.state == "township_review"
    in_notice = cal.working_days_between(passed, passed + 7 * DAY)
    due = cal.add_working_days(now, 10 + in_notice)  # from acceptance, the notice left out
    assert aware(case.deadline) == due
    assert due < cal.add_working_days(passed + 7 * DAY, 10), "not from the case reaching the township"
    flow.sweep(due - MINUTE)
    assert _flags(flow, case_id, "opinion_overdue") == []
    flow.sweep(due)
    assert len(_flags(flow, case_id, "opinion_overdue")) == 1


def test_P9_the_whole_case_is_due_30_working_days_from_acceptance_with_notices_left_out(
    flow: Flow, now: datetime
) -> None:
    cal = flow.env.calendar
    case_id = flow.to("township_approval", household(), now)
    notices = cal.working_days_between(now, now + 7 * DAY) + cal.working_days_between(now + 8 * DAY, now + 15 * DAY)
    due = cal.add_working_days(now, 30 + notices)
    shown = _total(flow, case_id, now + 16 * DAY)
    assert shown["due"] == due.isoformat()
    assert shown["paused"] is False
    assert shown["label"] == "办结时限 / the whole case"
    flow.sweep(due - MINUTE)
    assert _flags(flow, case_id, "total_overdue") == []
    flow.sweep(due)
    assert len(_flags(flow, case_id, "total_overdue")) == 1
    with flow.session(write=False) as s:
        found = [f for f in overdue_flags(s, actor=flow.world.county) if f.kind == "total_overdue"]
    assert [(f.application_id, f.official) for f in found] == [(case_id, "boss")], "names who held the case"
    assert "P9" in (found[0].rule or "")


def test_P9_the_whole_case_clock_pauses_while_a_notice_runs(flow: Flow, now: datetime) -> None:
    cal = flow.env.calendar
    case_id = flow.to("notice_township", household(), now)
    seen = now + 10 * DAY
    shown = _total(flow, case_id, seen)
    so_far = cal.working_days_between(now, now + 7 * DAY) + cal.working_days_between(now + 8 * DAY, seen)
    assert shown["paused"] is True
    assert shown["due"] == cal.add_working_days(now, 30 + so_far).isoformat()


def test_P9_the_township_extends_the_whole_case_once_with_a_reason_to_45_working_days(
    flow: Flow, now: datetime
) -> None:
    cal = flow.env.calendar
    w = flow.world
    case_id = flow.to("township_review", household(), now)
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "extend_deadline", w.clerk, now + 8 * DAY, REASON)
    with pytest.raises(GuardRejected, match="理由"):
        flow.act(case_id, "extend_deadline", w.boss, now + 8 * DAY, {})
    flow.act(case_id, "extend_deadline", w.boss, now + 8 * DAY, REASON)
    with pytest.raises(GuardRejected, match="extended once"):
        flow.act(case_id, "extend_deadline", w.boss2, now + 8 * DAY, REASON)
    case = flow.case(case_id)
    assert case.state == "township_review"
    assert case.data["deadline_extension"]["reason"] == REASON["reason"]
    notice = cal.working_days_between(now, now + 7 * DAY)
    flow.sweep(cal.add_working_days(now, 30 + notice))
    assert _flags(flow, case_id, "total_overdue") == [], "the 30 working days no longer apply"
    extended = cal.add_working_days(now, 45 + notice)
    shown = _total(flow, case_id, now + 9 * DAY)
    assert shown["due"] == extended.isoformat()
    assert shown["label"] == "办结时限（已延长）/ the whole case (extended)"
    flow.sweep(extended - MINUTE)
    assert _flags(flow, case_id, "total_overdue") == []
    flow.sweep(extended)
    assert len(_flags(flow, case_id, "total_overdue")) == 1


def test_P11_a_refusal_not_delivered_within_3_working_days_is_flagged(flow: Flow, now: datetime) -> None:
    cal = flow.env.calendar
    case_id = flow.to("township_review", household(), now)
    refused_at = now + 8 * DAY
    flow.act(case_id, "township_reject", flow.world.boss, refused_at, {"reason": "财产超标 / assets above the rule"})
    due = cal.add_working_days(refused_at, 3)
    with flow.session(write=False) as s:
        shown = [c.to_json() for c in case_clocks(s, flow.env, flow.case(case_id), refused_at)]
    assert [c["due"] for c in shown if c["clock"] == "delivery"] == [due.isoformat()]
    flow.sweep(due - MINUTE)
    assert _flags(flow, case_id, "refusal_undelivered") == []
    flow.sweep(due)
    assert len(_flags(flow, case_id, "refusal_undelivered")) == 1
    with flow.session(write=False) as s:
        found = [f for f in overdue_flags(s, actor=flow.world.county) if f.kind == "refusal_undelivered"]
    assert [f.official for f in found] == ["boss"]


def test_P11_the_township_records_the_delivery_of_a_written_refusal(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_reject", w.boss, now, {"reason": "户籍不在本村 / not registered in this village"})
    delivered = {"delivered_on": local_date(now + DAY).isoformat(), "method": "直接送达 / in person"}
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "record_delivery", w.clerk, now + DAY, delivered)
    with pytest.raises(GuardRejected, match="送达日期"):
        flow.act(case_id, "record_delivery", w.boss, now + DAY, {**delivered, "delivered_on": "2030-01-01"})
    with pytest.raises(GuardRejected, match="送达方式"):
        flow.act(case_id, "record_delivery", w.boss, now + DAY, {"delivered_on": delivered["delivered_on"]})
    flow.act(case_id, "record_delivery", w.boss, now + DAY, delivered)
    case = flow.case(case_id)
    assert case.state == "rejected"
    assert case.data["delivery"]["method"] == "直接送达 / in person"
    with pytest.raises(GuardRejected, match="delivered"):
        flow.act(case_id, "record_delivery", w.boss, now + DAY, delivered)
    flow.sweep(now + 30 * DAY)
    assert _flags(flow, case_id, "refusal_undelivered") == []


def test_P12_the_decision_record_carries_the_appeal_window_shown_to_the_household(flow: Flow, now: datetime) -> None:
    window = {"review_days": 60, "lawsuit_months": 6, "review_body": "县人民政府 / the county people's government"}
    approved = flow.to("notice_final", household(), now)
    refused = flow.to("township_review", household(serial=2), now)
    flow.act(refused, "township_reject", flow.world.boss, now + 8 * DAY, {"reason": "财产超标 / assets above"})
    for case_id, record in ((approved, "approval"), (refused, "refusal")):
        case = flow.case(case_id)
        assert case.data[record]["appeal"] == window
        with flow.session(write=False) as s:
            assert household_view(s, env=flow.env, case=case, lang="zh", now=now + 17 * DAY)["appeal"] == window
    pending = flow.to("township_review", household(serial=3), now)
    with flow.session(write=False) as s:
        assert household_view(s, env=flow.env, case=flow.case(pending), lang="zh", now=now)["appeal"] is None


def test_P10_an_approval_records_its_written_basis(flow: Flow, now: datetime) -> None:
    decision = {"monthly_amount_fen": 50_000, "mode": "household"}
    given = flow.to("township_approval", household(), now)
    basis = "人均收入 300 元，低于标准 700 元 / per-person income 300 yuan, under the 700 yuan standard"
    flow.act(given, "approve", flow.world.boss2, now + 16 * DAY, {**decision, "basis": basis})
    assert flow.case(given).data["approval"]["basis"] == basis
    # An approval without the official's own words (as the contract's clients send it) still records one:
    # the rules, the local standard and the household's counted income it was decided on.
    plain = flow.to("township_approval", household(serial=2), now)
    flow.act(plain, "approve", flow.world.boss2, now + 16 * DAY, decision)
    recorded = flow.case(plain).data["approval"]["basis"]
    assert "民发〔2021〕57号" in recorded
    assert "700.00" in recorded, "the local standard"
    assert "100.00" in recorded, "the household's per-capita income (200 yuan over two people)"


def test_a_deadline_in_a_year_whose_holiday_notice_is_not_out_is_provisional(flow: Flow) -> None:
    in_2027 = local("2027-03-01")
    assert flow.env.calendar.provisional(local_date(in_2027))
    case_id = flow.submit(household(), in_2027)
    flow.act(case_id, "village_pass", flow.world.clerk, in_2027, {**VILLAGE_PASS, "visit_date": "2027-03-01"})
    flow.sweep(in_2027 + 7 * DAY)
    case = flow.case(case_id)
    assert case.state == "township_review"
    assert step_provisional(flow.env, case, aware(case.deadline))
    assert _total(flow, case_id, in_2027 + 8 * DAY)["provisional"] is True
    flow.verify(case_id, in_2027 + 8 * DAY)
    flow.act(case_id, "township_pass", flow.world.boss, in_2027 + 8 * DAY, TOWNSHIP_PASS)
    notice = flow.case(case_id)
    assert notice.state == "notice_township"
    assert not step_provisional(flow.env, notice, aware(notice.deadline) if notice.deadline else None)


def test_P9_once_decided_the_whole_case_runs_against_no_clock(flow: Flow, now: datetime) -> None:
    case_id = flow.to("notice_final", household(), now)
    with pytest.raises(TransitionNotAllowed):
        flow.act(case_id, "extend_deadline", flow.world.boss, now + 17 * DAY, REASON)
    with flow.session(write=False) as s:
        clocks = [c.clock for c in case_clocks(s, flow.env, flow.case(case_id), now + 17 * DAY)]
    assert clocks == ["step"], "the final notice's end only"
    flow.sweep(now + 200 * DAY)
    assert _flags(flow, case_id, "total_overdue") == []
