"""P17: the standing list of a village's current beneficiaries (长期公示), masked; 特困 minors never posted."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.errors import InvalidInput, NotFound
from tests.cast import OTHER_VILLAGE, TOWNSHIP, VILLAGE
from tests.workflows.support import TEKUN_APPROVE, Flow, household
from workflows.standing import standing_list

DAY = timedelta(days=1)


def listed(flow: Flow, village: str, at: datetime) -> list[dict[str, object]]:
    with flow.session(write=False) as s:
        return [h.model_dump() for h in standing_list(s, env=flow.env, village=village, now=at).households]


def test_P17_current_beneficiaries_are_listed_masked_with_size_type_and_amount(flow: Flow, now: datetime) -> None:
    active = flow.to_active(household(serial=1, incomes=(20_000, 0, 0)), now)
    flow.to("notice_final", household(serial=2), now)  # decided, not yet supported: not listed
    refused = flow.submit(household(serial=3), now)
    flow.act(refused, "village_reject", flow.world.boss, now, {"reason": "收入超标 / income over the standard"})
    [row] = listed(flow, VILLAGE, now + 30 * DAY)
    assert row["reference"] == flow.case(active).reference
    assert row["name"] == "王*英", "masked as the notice board masks it"
    assert row["household_size"] == 3
    assert (row["aid_type"], row["amount_fen"]) == ("dibao", 50_000)
    assert set(row) == {
        "reference",
        "name",
        "village",
        "village_code",
        "household_size",
        "aid_type",
        "aid_type_label",
        "amount_fen",
    }, "no identity number, phone, address or account"


def test_P17_tekun_minors_are_left_off_the_standing_list(flow: Flow, now: datetime) -> None:
    minor = flow.to_active(household(aid_type="tekun", serial=1, born="20150101", incomes=(0,)), now, TEKUN_APPROVE)
    adult = flow.to_active(household(aid_type="tekun", serial=2, born="19500101", incomes=(0,)), now, TEKUN_APPROVE)
    assert flow.state(minor) == "active"
    assert [r["reference"] for r in listed(flow, VILLAGE, now + 30 * DAY)] == [flow.case(adult).reference]


def test_P17_the_list_is_one_village_s_own(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(serial=1), now)
    assert [r["reference"] for r in listed(flow, VILLAGE, now + 30 * DAY)] == [flow.case(case_id).reference]
    assert listed(flow, OTHER_VILLAGE, now + 30 * DAY) == [], "another village's list holds none of this village's"
    with flow.session(write=False) as s:
        with pytest.raises(InvalidInput, match="per village"):
            standing_list(s, env=flow.env, village=TOWNSHIP, now=now)
        with pytest.raises(NotFound):
            standing_list(s, env=flow.env, village="341122999999", now=now)
