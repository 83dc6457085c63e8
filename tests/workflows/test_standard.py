"""The standard application (低保/特困) walked through the engine, timers included."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from engine.errors import GuardRejected, InvalidInput, NotFound, RoleNotPermitted, TransitionNotAllowed
from engine.tables import Case
from tests.factories import OTHER_VILLAGE
from tests.workflows.support import (
    APPROVE,
    TOWNSHIP_PASS,
    VILLAGE_PASS,
    Flow,
    audit_actions,
    household,
)
from workflows.acting import perform_action
from workflows.applications import submit_application
from workflows.casefile_view import case_details
from workflows.models import CaseIdentifier, Notice
from workflows.tracking import find_by_tracking_code, plain_status


def walk_to_active(flow: Flow, now: datetime, case_id: int | None = None) -> int:
    w = flow.world
    case_id = case_id or flow.submit(household(), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=7))
    flow.act(case_id, "township_pass", w.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.sweep(now + timedelta(days=15))
    flow.act(case_id, "approve", w.boss2, now + timedelta(days=16), APPROVE)
    flow.sweep(now + timedelta(days=23))
    return case_id


def test_three_notices_lead_an_application_to_active_with_timers(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    assert flow.state(case_id) == "village_review"
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    assert flow.state(case_id) == "notice_village"
    assert flow.sweep(now + timedelta(days=6, hours=23)).fired == 0, "the notice runs its seven days"
    assert flow.sweep(now + timedelta(days=7)).fired == 1
    assert flow.state(case_id) == "township_review"
    flow.act(case_id, "township_pass", w.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    assert flow.state(case_id) == "notice_township"
    flow.sweep(now + timedelta(days=15))
    assert flow.state(case_id) == "township_approval"
    flow.act(case_id, "approve", w.boss2, now + timedelta(days=16), APPROVE)
    assert flow.state(case_id) == "notice_final"
    flow.sweep(now + timedelta(days=23))
    case = flow.case(case_id)
    assert case.state == "active"
    assert case.data["monthly_amount_fen"] == 50_000
    assert case.data["activated_at"] == (now + timedelta(days=23)).isoformat(), "active from the notice's end"
    with flow.session(write=False) as s:
        actions = audit_actions(s, case_id)
        notices = s.exec(select(Notice).where(Notice.case_id == case_id).order_by(Notice.id)).all()  # type: ignore[arg-type]
        stages = [(n.stage, n.amount_fen) for n in notices]
    assert actions == [
        "create",
        "submit",
        "record_verification",  # 核对 (P4): one report a member
        "record_verification",
        "village_pass",
        "close_notice",
        "township_pass",
        "close_notice",
        "approve",
        "close_notice",
    ]
    assert stages == [("village", 50_000), ("township", 50_000), ("final", 50_000)]


def test_the_reference_follows_the_aid_type_and_year(flow: Flow, now: datetime) -> None:
    first = flow.case(flow.submit(household(), now))
    second = flow.case(flow.submit(household(serial=2), now))
    tekun = flow.case(flow.submit(household(aid_type="tekun", serial=3), now))
    assert (first.reference, second.reference) == ("DB-2026-000001", "DB-2026-000002")
    assert tekun.reference == "TK-2026-000001"


def test_identity_numbers_and_bank_accounts_are_stored_only_encrypted(flow: Flow, now: datetime) -> None:
    payload = household(bank_account="6222020200112233445")
    case = flow.case(flow.submit(payload, now))
    raw = str(case.data)
    for secret in (payload.applicant.id_number, payload.members[1].id_number, "6222020200112233445"):
        assert secret not in raw
    with flow.session(write=False) as s:
        kinds = sorted(r.kind for r in s.exec(select(CaseIdentifier).where(CaseIdentifier.case_id == case.id)))  # type: ignore[arg-type]
        masked = case_details(s, env=flow.env, case=case, reveal=False)
        shown = case_details(s, env=flow.env, case=case, reveal=True)
    assert kinds == ["applicant", "bank_account", "member", "member"]
    assert (
        masked["applicant"]["id_number"]
        == payload.applicant.id_number[:6] + "********" + payload.applicant.id_number[-4:]
    )
    assert masked["bank_account"].endswith("3445")
    assert "6222" not in masked["bank_account"]
    assert shown["members"][1]["id_number"] == payload.members[1].id_number


def test_one_bank_account_on_two_households_is_flagged(flow: Flow, now: datetime) -> None:
    flow.submit(household(bank_account="6222020200112233445"), now)
    second = flow.case(flow.submit(household(serial=2, bank_account="6222 0202 0011 2233 445"), now))
    assert second.data["shared_bank_account_with"]
    assert [f["kind"] for f in second.data["flags"]] == ["shared_bank_account"]


def test_a_draft_waits_until_submitted(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(draft=True), now)
    assert flow.state(case_id) == "draft"
    flow.act(case_id, "submit", flow.world.clerk, now)
    assert flow.state(case_id) == "village_review"


def test_an_applicant_files_for_themselves_and_an_officer_outside_the_village_cannot(flow: Flow, now: datetime) -> None:
    w = flow.world
    case = flow.case(flow.submit(household(), now, actor=w.applicant))
    assert case.applicant_user_id == w.applicant.user_id
    with pytest.raises(NotFound), flow.session() as s:
        submit_application(s, env=flow.env, actor=w.far_clerk, payload=household(), now=now)
    with pytest.raises(RoleNotPermitted), flow.session() as s:
        submit_application(s, env=flow.env, actor=w.inspector, payload=household(), now=now)
    with pytest.raises(NotFound), flow.session() as s:
        submit_application(s, env=flow.env, actor=w.clerk, payload=household(village=OTHER_VILLAGE), now=now)


def test_P2_only_the_township_refuses_to_accept_and_the_township_rejects_with_a_written_reason(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    at_village = flow.submit(household(), now)
    with pytest.raises(RoleNotPermitted):
        flow.act(at_village, "village_reject", w.clerk, now, {"reason": "收入超标 / income too high"})
    with pytest.raises(GuardRejected, match="理由"):
        flow.act(at_village, "village_reject", w.boss, now, {})
    flow.act(at_village, "village_reject", w.boss, now, {"reason": "收入超标 / income too high"})
    case = flow.case(at_village)
    assert case.state == "rejected"
    assert case.data["refusal"] == {**case.data["refusal"], "by": "boss", "reason": "收入超标 / income too high"}
    assert case.data["accepted_at"] == now.isoformat(), "the submission is the acceptance"
    assert (
        flow.env.definition_for(case).transition_from("village_review", "village_reject").label.startswith("不予受理")
    )

    at_township = flow.submit(household(serial=2), now)
    flow.act(at_township, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=7))
    flow.act(at_township, "township_reject", w.boss, now + timedelta(days=8), {"reason": "财产不实 / assets untrue"})
    case = flow.case(at_township)
    assert case.state == "rejected"
    assert case.data["refusal"]["reason"] == "财产不实 / assets untrue"
    with flow.session(write=False) as s:
        status = plain_status(s, env=flow.env, case=case, lang="en", now=now)
    assert status["reason"] == "财产不实 / assets untrue"
    assert status["status_text"] == "The application was refused"


def test_deny_at_the_decision_is_refused_to_whoever_gave_the_opinion(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=7))
    flow.act(case_id, "township_pass", w.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.sweep(now + timedelta(days=15))
    with pytest.raises(GuardRejected, match="另一人"):
        flow.act(case_id, "deny", w.boss, now + timedelta(days=16), {"reason": "x"})
    flow.act(case_id, "deny", w.boss2, now + timedelta(days=16), {"reason": "收入不实 / income untrue"})
    assert flow.state(case_id) == "rejected"


def test_return_to_village_sends_it_back_for_a_new_investigation(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=7))
    with pytest.raises(GuardRejected):
        flow.act(case_id, "return_to_village", w.boss, now + timedelta(days=8), {})
    flow.act(case_id, "return_to_village", w.boss, now + timedelta(days=8), {"reason": "补充入户调查 / visit again"})
    assert flow.state(case_id) == "village_review"
    flow.act(case_id, "village_pass", w.clerk, now + timedelta(days=9), VILLAGE_PASS)
    assert flow.state(case_id) == "notice_village", "a fresh first notice"


def test_request_info_lists_everything_missing_and_returns_to_the_asker(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "request_info", w.clerk, now, {"missing": [], "due": "2026-01-01"})
    assert len(refused.value.reasons) == 2, "both the empty list and the past date are named"
    missing = {"missing": ["户口簿 / household register", "收入证明 / proof of income"], "due": "2026-10-20"}
    flow.act(case_id, "request_info", w.clerk, now, missing)
    case = flow.case(case_id)
    assert case.state == "awaiting_info"
    assert case.deadline is not None
    assert case.deadline.date().isoformat() == "2026-10-20"
    with flow.session(write=False) as s:
        status = plain_status(s, env=flow.env, case=case, lang="zh", now=now)
    assert "户口簿" in status["next_step"]
    assert "收入证明" in status["next_step"]
    flow.act(case_id, "provide_info", w.applicant if case.applicant_user_id else w.clerk, now + timedelta(days=2))
    assert flow.state(case_id) == "village_review"

    flow.act(case_id, "village_pass", w.clerk, now + timedelta(days=3), VILLAGE_PASS)
    flow.sweep(now + timedelta(days=10))
    flow.act(case_id, "request_info", w.boss, now + timedelta(days=11), missing)
    flow.act(case_id, "provide_info", w.clerk, now + timedelta(days=12))
    assert flow.state(case_id) == "township_review", "back to the township, which asked"


def test_the_applicant_or_the_filing_officer_may_withdraw_but_nobody_else(flow: Flow, now: datetime) -> None:
    w = flow.world
    mine = flow.submit(household(), now, actor=w.applicant)
    flow.act(mine, "withdraw", w.applicant, now, {"reason": "情况好转 / better now"})
    assert flow.state(mine) == "withdrawn"
    filed = flow.submit(household(serial=2), now)
    with pytest.raises(GuardRejected, match="撤回"):
        flow.act(filed, "withdraw", w.clerk2, now)
    with pytest.raises(NotFound):
        flow.act(filed, "withdraw", w.neighbour, now)
    flow.act(filed, "withdraw", w.clerk, now)
    assert flow.state(filed) == "withdrawn"
    with pytest.raises(TransitionNotAllowed):
        flow.act(filed, "submit", w.clerk, now)


def test_inspectors_fire_nothing_and_objections_are_not_actions(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "village_pass", w.inspector, now, VILLAGE_PASS)
    with pytest.raises(InvalidInput):
        flow.act(case_id, "raise_objection", w.clerk, now, {"reason": "x"})
    with pytest.raises(NotFound):
        flow.act(case_id, "village_pass", w.far_clerk, now, VILLAGE_PASS)


def test_the_tracking_code_finds_the_case_and_only_its_hash_is_stored(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        done = submit_application(s, env=flow.env, actor=flow.world.clerk, payload=household(), now=now)
        assert len(done.tracking_code) >= 16
        assert done.case.tracking_hash != done.tracking_code
        found = find_by_tracking_code(s, env=flow.env, code=done.tracking_code)
        assert found is not None
        assert found.id == done.case.id
        assert find_by_tracking_code(s, env=flow.env, code="not-a-real-code-at-all") is None
        status = plain_status(s, env=flow.env, case=done.case, lang="zh", now=now)
    assert status["status_text"].startswith("村委会")
    assert "王小英" not in str(status)


def test_the_township_opinion_deadline_is_ten_working_days_and_a_breach_is_flagged(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=7))  # 2026-10-05, inside the National Day holiday
    case = flow.case(case_id)
    assert case.state == "township_review"
    assert case.deadline is not None
    # 10 working days after 5 Oct 2026: 9 and 10 Oct are make-up working days? The official calendar decides.
    assert flow.env.calendar.working_days_between(case.state_entered_at, case.deadline) == 10
    flow.sweep(case.deadline + timedelta(minutes=1))
    late = flow.case(case_id)
    assert late.state == "township_review", "a breach is flagged, never approved by itself"
    assert [f["kind"] for f in late.data["flags"]] == ["opinion_overdue"]
    with flow.session(write=False) as s:
        assert audit_actions(s, case_id)[-1] == "flag_overdue"
        from workflows.reports import overdue_flags

        flags = overdue_flags(s, actor=w.inspector)
        assert [(f.application_id, f.kind) for f in flags] == [(case_id, "opinion_overdue")]
        assert overdue_flags(s, actor=w.far_boss) == []


def test_a_case_outside_the_scope_is_not_found_alike(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with flow.session(write=False) as s:
        assert s.get(Case, case_id) is not None
    for case, who in ((case_id + 1000, flow.world.clerk), (case_id, flow.world.far_boss)):
        with pytest.raises(NotFound), flow.session() as s:
            perform_action(
                s,
                env=flow.env,
                actor=who,
                case_id=case,
                action="village_pass",
                version=2,
                data=dict(VILLAGE_PASS),
                comment=None,
                now=now,
            )


def test_a_household_has_one_open_standard_application_at_a_time(flow: Flow, now: datetime) -> None:
    from engine.errors import Conflict

    first = flow.submit(household(), now)
    with pytest.raises(Conflict, match="already has an open application"):
        flow.submit(household(), now + timedelta(days=1))
    flow.act(first, "withdraw", flow.world.clerk, now + timedelta(days=2), {"reason": "重新申请 / to apply again"})
    again = flow.submit(household(), now + timedelta(days=3))
    assert flow.state(again) == "village_review"
    # emergency aid may run beside an open standard application (P16)
    flow.submit(household(aid_type="emergency"), now + timedelta(days=3), actor=flow.world.boss)
