"""The temporary-aid rules of domain.md §5 that the fast channel shows acting: K3, K8, K9, P16."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.access import SYSTEM
from tests.factories import OTHER_VILLAGE, TOWNSHIP, VILLAGE
from tests.households import household_body
from tests.workflows.support import Flow, household
from workflows.fund import deposit_fund, fund_balance
from workflows.notices import running_notices
from workflows.schemas import ApplicationIn

DAY = timedelta(days=1)


def _fund(flow: Flow, now: datetime, amount: int = 1_000_000) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=amount, actor=SYSTEM, now=now)


def test_K3_aid_is_paid_before_the_paperwork_and_the_paperwork_follows(flow: Flow, now: datetime) -> None:
    _fund(flow, now)
    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 150_000})
    paid = flow.case(case_id)
    assert paid.state == "emergency_paid"
    assert "paperwork" not in paid.data, "the money goes out before any paperwork is recorded"
    with flow.session(write=False) as s:
        assert fund_balance(s, TOWNSHIP) == 850_000
    flow.act(case_id, "complete_paperwork", flow.world.boss, now + 2 * DAY, {"note": "补齐签字盖章 / signed"})
    done = flow.case(case_id)
    assert done.state == "notice_post"
    assert done.data["paperwork"]["note"] == "补齐签字盖章 / signed"


def test_K8_aid_is_given_where_the_emergency_happens_whatever_the_registration(flow: Flow, now: datetime) -> None:
    # identity numbers issued in another county (their first six digits), the emergency in this village
    body = household_body(aid_type="emergency", village=OTHER_VILLAGE[:2] + "0" * 10, serial=7)
    body["village"] = VILLAGE
    payload = ApplicationIn.model_validate(body)
    assert payload.applicant.id_number[:6] != VILLAGE[:6]
    _fund(flow, now)
    case_id = flow.submit(payload, now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    case = flow.case(case_id)
    assert (case.state, case.region_code) == ("emergency_paid", VILLAGE)


def test_K9_emergency_aid_is_published_after_the_fact_not_before(flow: Flow, now: datetime) -> None:
    _fund(flow, now)
    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 120_000})
    with flow.session(write=False) as s:
        assert running_notices(s, env=flow.env, now=now + DAY) == [], "nothing is posted while the aid is urgent"
    flow.act(case_id, "complete_paperwork", flow.world.boss, now + DAY)
    with flow.session(write=False) as s:
        posted = running_notices(s, env=flow.env, now=now + 2 * DAY)
    assert [(n.aid_type, n.amount_fen) for n in posted] == [("emergency", 120_000)]


def test_P16_urgent_need_while_a_dibao_case_is_pending_gets_temporary_aid_meanwhile(flow: Flow, now: datetime) -> None:
    pending = flow.submit(household(aid_type="dibao"), now)
    assert flow.state(pending) == "village_review"
    _fund(flow, now)
    urgent = flow.submit(household(aid_type="emergency"), now + DAY, actor=flow.world.boss)
    flow.act(urgent, "grant_emergency", flow.world.boss, now + DAY, {"amount_fen": 100_000})
    assert flow.state(urgent) == "emergency_paid"
    assert flow.state(pending) == "village_review", "the dibao case goes on as before"
