"""The public tracking page says by when the present step is due, wherever that is known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.database import Database
from tests.workflows.support import VILLAGE_PASS, Flow, World, household, make_env
from workflows.policy import Override
from workflows.tracking import plain_status

DAY = timedelta(days=1)


def status(flow: Flow, case_id: int, at: datetime) -> dict[str, Any]:
    with flow.session(write=False) as s:
        return plain_status(s, env=flow.env, case=flow.case(case_id), lang="en", now=at)


def test_during_a_notice_the_deadline_is_the_end_of_the_notice(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert status(flow, case_id, now + DAY)["deadline"] == now + 7 * DAY


def test_the_village_review_has_no_deadline_unless_the_policy_sets_one(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    assert status(flow, case_id, now)["deadline"] is None


def test_the_village_review_is_due_within_the_policys_span_where_one_is_set(
    db: Database, world: World, now: datetime
) -> None:
    span = {"standard": {"village_review": {"length": 30, "unit": "days"}}}
    flow = Flow(db, make_env(Override("", date(2020, 1, 1), span)), world)
    case_id = flow.submit(household(), now)
    assert status(flow, case_id, now)["deadline"] == now + 30 * DAY


def test_an_active_case_shows_when_its_next_review_is_due(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(household(), now)
    shown = status(flow, case_id, now + 30 * DAY)
    assert shown["deadline"] == datetime(2027, 10, 21, 2, 0, tzinfo=UTC), "a stable household: twelve months on"
    flow.act(case_id, "start_review", w.boss, now + 60 * DAY)
    flow.verify(case_id, now + 60 * DAY)  # D6: the review's fresh 核对 report
    flow.act(case_id, "continue", w.boss, now + 61 * DAY, {"note": "无变化"})
    again = status(flow, case_id, now + 62 * DAY)
    assert again["deadline"] == datetime(2027, 11, 28, 2, 0, tzinfo=UTC), "twelve months after the review ended"


def test_a_request_for_information_is_due_at_the_end_of_its_day_in_shanghai(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    flow.act(
        case_id,
        "request_info",
        flow.world.clerk,
        now,
        {"missing": ["户口簿 / household register"], "due": "2026-10-20"},
    )
    shown = status(flow, case_id, now)
    assert shown["deadline"] == datetime(2026, 10, 20, 15, 59, 59, tzinfo=UTC)
    assert shown["deadline"].isoformat().replace("+00:00", "Z") == "2026-10-20T15:59:59Z"


def test_the_case_deadline_of_a_request_for_information_is_the_end_of_its_day_to_the_second(
    flow: Flow, now: datetime
) -> None:
    asked_at = now + timedelta(hours=5, minutes=33, seconds=52)  # not on a whole hour
    case_id = flow.submit(household(), now)
    flow.act(case_id, "request_info", flow.world.clerk, asked_at, {"missing": ["收入证明"], "due": "2026-10-10"})
    deadline = flow.case(case_id).deadline
    assert deadline is not None
    end_of_day = datetime(2026, 10, 10, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Shanghai
    assert end_of_day - timedelta(seconds=1) < deadline <= end_of_day


def test_a_draft_has_not_been_submitted(flow: Flow, now: datetime) -> None:
    draft = household().model_copy(update={"draft": True})
    case_id = flow.submit(draft, now)
    assert status(flow, case_id, now)["submitted_at"] is None
    flow.act(case_id, "submit", flow.world.clerk, now + DAY)
    assert status(flow, case_id, now + DAY)["submitted_at"] == now + DAY


def test_a_grace_period_shows_when_it_ends(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(household(), now)
    flow.act(case_id, "start_review", w.boss, now + 30 * DAY)
    flow.act(case_id, "begin_exit", w.boss, now + 30 * DAY, {"reason": "务工收入超过标准"})
    assert status(flow, case_id, now + 31 * DAY)["deadline"] == datetime(2027, 10, 28, 2, 0, tzinfo=UTC)


def test_ending_support_is_told_plainly_with_its_reason_and_the_right_of_appeal(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(household(aid_type="tekun", born="19500101", incomes=(0,)), now)
    flow.act(
        case_id,
        "terminate",
        w.boss,
        now + 30 * DAY,
        {"reason": "恢复劳动能力 / able to work again", "ground": "work_capacity"},
    )
    waiting = status(flow, case_id, now + 30 * DAY)
    assert waiting["reason"] == "恢复劳动能力 / able to work again"
    assert "county decides" in waiting["status_text"]
    flow.act(case_id, "approve_termination", w.county, now + 31 * DAY)
    posted = status(flow, case_id, now + 31 * DAY)
    assert "Payments stop when the notice ends" in posted["next_step"]
    assert posted["deadline"] == now + 38 * DAY
    assert posted["deadline_local"] == "2026-11-05 10:00"
    flow.sweep(now + 38 * DAY)
    ended = status(flow, case_id, now + 38 * DAY)
    assert ended["state"] == "exited"
    assert ended["reason"] == "恢复劳动能力 / able to work again"
    assert "administrative review" in ended["next_step"]
