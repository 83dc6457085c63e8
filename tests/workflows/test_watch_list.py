"""潜在救助对象: a refused, withdrawn or exited household still in hardship stays in view with its reason,
comes up for a follow-up at the policy's interval, and the follow-up is recorded on the trail."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import NotFound
from tests.workflows.support import Flow, household
from workflows.oversight.live import verify_live
from workflows.oversight.watchlist import WatchOut, follow_ups, record_follow_up, watch_list

DAY = timedelta(days=1)
REASON = {"reason": "经核查不符合条件 / does not qualify"}


def watched(flow: Flow, at: datetime) -> list[WatchOut]:
    with flow.session(write=False) as s:
        return watch_list(s, env=flow.env, actor=flow.world.boss, now=at)


def refused(flow: Flow, now: datetime, **kw: object) -> int:
    case_id = flow.submit(household(**kw), now)  # type: ignore[arg-type]
    flow.act(case_id, "village_reject", flow.world.boss, now + DAY, REASON)
    return case_id


def test_a_refused_household_under_the_income_line_is_watched_with_its_reason(flow: Flow, now: datetime) -> None:
    poor = refused(flow, now, serial=1, incomes=(20_000, 0))
    refused(flow, now, serial=2, incomes=(900_000, 900_000))  # well off: not kept in view
    found = watched(flow, now + 2 * DAY)
    assert [w.application_id for w in found] == [poor]
    assert "人均月收入 10000 分" in found[0].reasons[0]
    assert found[0].due is False


def test_illness_and_disability_are_reasons_even_above_the_income_line(flow: Flow, now: datetime) -> None:
    ill = refused(flow, now, serial=1, incomes=(900_000, 900_000), serious_illness=True)
    [line] = watched(flow, now + 2 * DAY)
    assert line.application_id == ill
    assert line.reasons == ["家庭成员患重病 / a member is seriously ill"]


def test_a_withdrawn_household_is_watched_too(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(serial=3), now)
    flow.act(case_id, "withdraw", flow.world.clerk, now + DAY, {"reason": "外出务工 / moved away"})
    assert [w.application_id for w in watched(flow, now + 2 * DAY)] == [case_id]


def test_the_follow_up_falls_due_after_the_policy_s_interval_and_a_visit_resets_it(flow: Flow, now: datetime) -> None:
    case_id = refused(flow, now)
    [line] = watched(flow, now + 200 * DAY)
    assert line.due is True, "six months after the refusal"
    with flow.session() as s:
        after = record_follow_up(
            s,
            env=flow.env,
            actor=flow.world.clerk,
            case_id=case_id,
            note="入户回访，仍无稳定收入 / visited: still no steady income",
            still_in_need=True,
            now=now + 200 * DAY,
        )
    assert after is not None
    assert after.due is False
    assert after.last_follow_up == now + 200 * DAY
    with flow.session(write=False) as s:
        visits = follow_ups(s, case_id)
        assert [(v["by"], v["still_in_need"]) for v in visits] == [("clerk", True)]
        assert verify_live(s).ok, "a follow-up records; it does not move the case"


def test_a_follow_up_outside_the_watch_list_is_not_found(flow: Flow, now: datetime) -> None:
    open_case = flow.submit(household(serial=4), now)
    with flow.session() as s, pytest.raises(NotFound):
        record_follow_up(
            s, env=flow.env, actor=flow.world.clerk, case_id=open_case, note="回访", still_in_need=True, now=now
        )
