"""The emergency fast channel: aid first from the reserve fund, paperwork after, notice after the fact."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from engine.access import SYSTEM
from engine.errors import GuardRejected, InvalidInput, NotFound, RoleNotPermitted, TransitionNotAllowed
from tests.factories import COUNTY, TOWNSHIP
from tests.workflows.support import Flow, household
from workflows.fund import deposit_fund, fund_balance
from workflows.models import FundEntry
from workflows.notices import running_notices
from workflows.objections import raise_objection
from workflows.reports import overdue_flags

DAY = timedelta(days=1)


def deposit(flow: Flow, amount: int, now: datetime, account: str = TOWNSHIP) -> int:
    with flow.session() as s:
        return deposit_fund(s, env=flow.env, township_code=account, amount_fen=amount, actor=SYSTEM, now=now)


def balance(flow: Flow, account: str = TOWNSHIP) -> int:
    with flow.session(write=False) as s:
        return fund_balance(s, account)


def emergency(flow: Flow, now: datetime, serial: int = 1, cause: str = "fire") -> int:
    return flow.submit(household(aid_type="emergency", serial=serial, cause=cause), now, actor=flow.world.boss)


def test_aid_is_paid_at_once_from_the_fund_then_paperwork_and_a_notice_close_it(flow: Flow, now: datetime) -> None:
    assert deposit(flow, 1_000_000, now) == 1_000_000
    case_id = emergency(flow, now)
    assert flow.state(case_id) == "emergency_reported"
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 200_000})
    assert flow.state(case_id) == "emergency_paid"
    assert balance(flow) == 800_000
    flow.act(case_id, "complete_paperwork", flow.world.boss, now + 2 * DAY, {"note": "补齐签字盖章"})
    assert flow.state(case_id) == "notice_post"
    with flow.session(write=False) as s:
        shown = running_notices(s, env=flow.env, now=now + 3 * DAY)
        entries = s.exec(select(FundEntry).order_by(FundEntry.id)).all()  # type: ignore[arg-type]
        moves = [(e.kind, e.amount_fen, e.balance_after_fen, e.case_id) for e in entries]
    assert [(n.aid_type, n.amount_fen) for n in shown] == [("emergency", 200_000)]
    assert moves == [("deposit", 1_000_000, 1_000_000, None), ("grant", 200_000, 800_000, case_id)]
    flow.sweep(now + 9 * DAY)
    assert flow.state(case_id) == "closed"
    assert flow.case(case_id).data.get("flags") == [], "paperwork in time: nothing flagged"


def test_K5_township_limit_refers_larger_grants_to_the_county(flow: Flow, now: datetime) -> None:
    deposit(flow, 2_000_000, now)
    deposit(flow, 5_000_000, now, account=COUNTY)
    case_id = emergency(flow, now)
    with pytest.raises(GuardRejected, match="refer_to_county"):
        flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 300_001})
    with pytest.raises(GuardRejected):
        flow.act(case_id, "refer_to_county", flow.world.boss, now, {})
    flow.act(case_id, "refer_to_county", flow.world.boss, now, {"reason": "金额超过乡镇限额 / over the limit"})
    assert flow.state(case_id) == "county_emergency_approval"
    with pytest.raises(TransitionNotAllowed, match="county_officer"):  # the township's grant, not at this stage
        flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 800_000})
    with pytest.raises(GuardRejected, match="county_override"):  # K6: over 10x the monthly standard
        flow.act(case_id, "grant_emergency", flow.world.county, now + DAY, {"amount_fen": 800_000})
    flow.act(case_id, "grant_emergency", flow.world.county, now + DAY, {"amount_fen": 800_000, "county_override": True})
    assert flow.state(case_id) == "emergency_paid"
    assert (balance(flow), balance(flow, COUNTY)) == (2_000_000, 4_200_000), "the county pays from its own fund"


def test_a_short_fund_refuses_the_grant(flow: Flow, now: datetime) -> None:
    deposit(flow, 100_000, now)
    case_id = emergency(flow, now)
    with pytest.raises(GuardRejected, match="reserve fund's balance is too low"):
        flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 150_000})
    assert balance(flow) == 100_000
    with pytest.raises(GuardRejected, match="amount_fen"):
        flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 0})
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    assert balance(flow) == 0


def test_deposits_need_a_positive_amount_a_known_township_and_the_right_role(flow: Flow, now: datetime) -> None:
    with pytest.raises(InvalidInput):
        deposit(flow, 0, now)
    with pytest.raises(NotFound):
        deposit(flow, 100, now, account="341122999000")
    with pytest.raises(RoleNotPermitted), flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=100, actor=flow.world.clerk, now=now)
    with flow.session() as s:
        assert (
            deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=100, actor=flow.world.boss, now=now) == 100
        )


def test_K7_once_per_cause_per_year_unless_the_county_overrides(flow: Flow, now: datetime) -> None:
    deposit(flow, 2_000_000, now)
    deposit(flow, 2_000_000, now, account=COUNTY)
    first = emergency(flow, now)
    flow.act(first, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    other_cause = emergency(flow, now + DAY, cause="accident")
    flow.act(other_cause, "grant_emergency", flow.world.boss, now + DAY, {"amount_fen": 100_000})
    again = emergency(flow, now + 2 * DAY)
    with pytest.raises(GuardRejected, match="already aided for this cause this year"):
        flow.act(again, "grant_emergency", flow.world.boss, now + 2 * DAY, {"amount_fen": 100_000})
    with pytest.raises(GuardRejected, match="only the county may override"):
        flow.act(
            again, "grant_emergency", flow.world.boss, now + 2 * DAY, {"amount_fen": 100_000, "county_override": True}
        )
    flow.act(again, "refer_to_county", flow.world.boss, now + 2 * DAY, {"reason": "年内第二次 / second this year"})
    with pytest.raises(GuardRejected, match="already aided"):
        flow.act(again, "grant_emergency", flow.world.county, now + 3 * DAY, {"amount_fen": 100_000})
    flow.act(
        again, "grant_emergency", flow.world.county, now + 3 * DAY, {"amount_fen": 100_000, "county_override": True}
    )
    assert flow.state(again) == "emergency_paid"
    next_year = emergency(flow, datetime(2027, 1, 5, 2, tzinfo=now.tzinfo))
    flow.act(
        next_year,
        "grant_emergency",
        flow.world.boss,
        datetime(2027, 1, 5, 3, tzinfo=now.tzinfo),
        {"amount_fen": 100_000},
    )
    assert flow.state(next_year) == "emergency_paid"


def test_paperwork_not_done_in_five_days_is_flagged_for_inspectors(flow: Flow, now: datetime) -> None:
    deposit(flow, 1_000_000, now)
    case_id = emergency(flow, now)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    assert flow.case(case_id).deadline == now + 5 * DAY
    assert flow.sweep(now + 5 * DAY - timedelta(seconds=1)).fired == 0
    flow.sweep(now + 5 * DAY)
    case = flow.case(case_id)
    assert case.state == "emergency_paid"
    assert [f["kind"] for f in case.data["flags"]] == ["paperwork_overdue"]
    with flow.session(write=False) as s:
        flags = overdue_flags(s, actor=flow.world.inspector)
    assert [(f.application_id, f.kind) for f in flags] == [(case_id, "paperwork_overdue")]
    flow.act(case_id, "complete_paperwork", flow.world.boss, now + 6 * DAY)
    assert flow.state(case_id) == "notice_post", "late paperwork is still taken; the flag stays"


def test_decline_needs_a_reason(flow: Flow, now: datetime) -> None:
    case_id = emergency(flow, now)
    with pytest.raises(GuardRejected):
        flow.act(case_id, "decline", flow.world.boss, now, {})
    flow.act(case_id, "decline", flow.world.boss, now, {"reason": "非急难情形 / not an emergency"})
    assert flow.state(case_id) == "rejected"


def test_convert_to_standard_opens_a_linked_application(flow: Flow, now: datetime) -> None:
    case_id = emergency(flow, now)
    record = flow.act(case_id, "convert_to_standard", flow.world.boss, now, {"aid_type": "dibao"})
    old = flow.case(case_id)
    assert old.state == "converted"
    new_id = old.data["converted_to"]["id"]
    new = flow.case(new_id)
    assert new.workflow == "standard"
    assert new.state == "village_review"
    assert new.reference.startswith("DB-")
    assert new.data["converted_from"] == {"id": case_id, "reference": old.reference}
    assert [m["name"] for m in new.data["members"]] == [m["name"] for m in old.data["members"]]
    assert record.data["new_case"]["id"] == new_id
    from workflows.tracking import plain_status

    with flow.session(write=False) as s:
        followed = plain_status(s, env=flow.env, case=old, lang="en", now=now)
    assert (followed["reference"], followed["state"]) == (new.reference, "village_review")
    assert followed["converted_from"] == old.reference, "the first receipt's code follows the case"


def test_an_objection_to_the_notice_after_the_fact_can_send_the_aid_to_recovery(flow: Flow, now: datetime) -> None:
    deposit(flow, 1_000_000, now)
    case_id = emergency(flow, now)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    flow.act(case_id, "complete_paperwork", flow.world.boss, now + DAY)
    with flow.session() as s:
        notice = running_notices(s, env=flow.env, now=now + 2 * DAY)[0]
        raise_objection(
            s, env=flow.env, notice_id=notice.id, reason="未受灾 / no fire happened", contact=None, now=now + 2 * DAY
        )
    assert flow.state(case_id) == "objection_review"
    flow.act(case_id, "uphold_objection", flow.world.boss2, now + 3 * DAY, {"finding": "虚报 / false report"})
    assert flow.state(case_id) == "recovery"


def test_an_emergency_filed_without_a_cause_counts_as_other(flow: Flow, now: datetime) -> None:
    from workflows.schemas import ApplicationIn

    body = household(aid_type="emergency").model_dump(by_alias=True)
    body.pop("cause")
    payload = ApplicationIn.model_validate(body)
    assert payload.cause == "other"
    case_id = flow.submit(payload, now, actor=flow.world.boss)
    assert flow.case(case_id).data["cause"] == "other"
