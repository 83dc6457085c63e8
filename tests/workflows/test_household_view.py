"""The household's tracking page: the steps with the present one marked, the amount and the first
month paid once approved, what emergency aid was paid and when, and the appeal routes from policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.access import SYSTEM
from engine.database import Database
from tests.factories import TOWNSHIP
from tests.workflows.support import VILLAGE_PASS, Flow, World, household, make_env
from workflows.fund import deposit_fund
from workflows.policy import Override
from workflows.tracking import household_view

DAY = timedelta(days=1)


def view(flow: Flow, case_id: int, at: datetime, lang: str = "zh") -> dict[str, Any]:
    with flow.session(write=False) as s:
        return household_view(s, env=flow.env, case=flow.case(case_id), lang=lang, now=at)


def current(shown: dict[str, Any]) -> list[str]:
    return [s["key"] for s in shown["steps"] if s["current"]]


def test_the_present_step_is_marked_and_those_before_it_are_done(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    shown = view(flow, case_id, now)
    assert current(shown) == ["village"]
    assert [s["key"] for s in shown["steps"] if s["done"]] == ["filed"]
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert current(view(flow, case_id, now)) == ["notice"]
    assert shown["monthly_amount_fen"] is None, "no amount is promised before the decision"


def test_an_active_case_shows_its_monthly_amount_and_first_month_paid_P10(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(), now)
    shown = view(flow, case_id, now + 30 * DAY)
    assert shown["state"] == "active"
    assert isinstance(shown["monthly_amount_fen"], int)
    assert shown["monthly_amount_fen"] > 0
    activated = datetime.fromisoformat(flow.case(case_id).data["activated_at"])
    month_after = (activated.replace(day=1) + timedelta(days=32)).date().replace(day=1)
    assert shown["first_payment_month"] == month_after, "paid from the month after activation"
    assert current(shown) == []
    assert all(s["done"] for s in shown["steps"])


def test_emergency_aid_shows_what_was_paid_and_when(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=1_000_000, actor=SYSTEM, now=now)
    case_id = flow.submit(household(aid_type="emergency", cause="fire"), now, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, now + DAY, {"amount_fen": 200_000})
    shown = view(flow, case_id, now + 2 * DAY)
    assert shown["emergency"] is True
    assert shown["grant_fen"] == 200_000
    assert shown["grant_at"] == now + DAY
    assert current(shown) == ["paid"]


def test_a_refusal_names_the_appeal_routes_with_the_time_limits_of_the_policy(
    db: Database, world: World, now: datetime
) -> None:
    limits = {"appeal": {"review_days": 30, "lawsuit_months": 3}}
    flow = Flow(db, make_env(Override("", date(2020, 1, 1), limits)), world)
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_reject", world.boss, now, {"reason": "收入超过标准 / income above the line"})
    shown = view(flow, case_id, now + DAY)
    assert shown["state"] == "rejected"
    assert shown["appeal"]["review_days"] == 30
    assert shown["appeal"]["lawsuit_months"] == 3
    assert shown["reason"] == "收入超过标准 / income above the line"
    assert [s["key"] for s in shown["steps"] if s["done"]] == ["filed"], "nothing after the refusal is shown done"
    assert [s["key"] for s in shown["steps"] if s.get("stopped")] == ["village"]


def test_the_default_policy_gives_60_days_for_review_and_6_months_for_a_lawsuit() -> None:
    rules = make_env().rules(TOWNSHIP, datetime(2026, 10, 1, tzinfo=UTC))
    assert rules.appeal_review_days == 60
    assert rules.appeal_lawsuit_months == 6
