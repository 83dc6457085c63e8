"""Rules an outside probe found unenforced: who may sign a house visit, how long a request for
information may park a case, and who may judge an objection."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import GuardRejected
from tests.workflows.support import TOWNSHIP_PASS, VILLAGE_PASS, Flow, household
from tests.workflows.test_objections import object_to, to_notice
from workflows.facts import eligible_investigators

DAY = timedelta(days=1)


def test_P3_a_village_officer_cannot_name_a_township_officer_as_investigator(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", w.clerk, now, {**VILLAGE_PASS, "investigators": ["clerk", "boss"]})
    assert "boss" in refused.value.detail
    assert "pick them from the village's own officials" in refused.value.detail
    # The township officer was not made a village actor, so the township stage is still theirs.
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    assert flow.state(case_id) == "notice_township"


def test_P3_the_investigators_offered_are_the_villages_own_officials(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with flow.session(write=False) as s:
        case = flow.case(case_id)
        offered = [name for name, _shown in eligible_investigators(s, env=flow.env, case=case, now=now)]
    assert offered == ["clerk", "clerk2"]


def test_P1_a_request_for_information_cannot_park_a_case_beyond_the_policys_bound(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    asked = {"missing": ["户口簿 / household register"], "due": "9999-12-31"}
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "request_info", flow.world.clerk, now, asked)
    assert "at most 30 days ahead" in refused.value.detail
    in_time = (now + 30 * DAY).date().isoformat()
    flow.act(case_id, "request_info", flow.world.clerk, now, {**asked, "due": in_time})
    assert flow.state(case_id) == "awaiting_info"


def test_the_official_whose_opinion_an_objection_challenges_may_not_judge_it(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id, posted = to_notice(flow, now, "notice_township")
    notice_id = _notices(flow, case_id)[-1]["id"]
    object_to(flow, notice_id, posted + DAY)
    assert flow.state(case_id) == "objection_review"
    finding = {"finding": "经复查，收入属实 / income confirmed"}
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "dismiss_objection", w.boss, posted + 2 * DAY, finding)
    assert "challenges your own act" in refused.value.detail
    flow.act(case_id, "dismiss_objection", w.boss3, posted + 2 * DAY, finding)
    assert flow.state(case_id) == "notice_township"


def _notices(flow: Flow, case_id: int) -> list[dict[str, int]]:
    from sqlmodel import select

    from workflows.models import Notice

    with flow.session(write=False) as s:
        return [{"id": n.id or 0} for n in s.exec(select(Notice).where(Notice.case_id == case_id)).all()]
