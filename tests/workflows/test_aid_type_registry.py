"""An aid type is one declaration: a toy one, registered from the test suite, runs from intake to active
with its own fields, guard, amount rule, reference prefix and names, and is gone once unregistered."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import select

from engine.definition import GuardContext
from engine.errors import GuardRejected
from notifications.messages import on_transition
from notifications.outbox import OutboxMessage
from tests.workflows.support import TOWNSHIP_PASS, VILLAGE_PASS, Flow, household
from workflows import aidtypes
from workflows.aidtypes import AidType, PersonCipher
from workflows.notices import running_notices
from workflows.policy import Rules
from workflows.schemas import ApplicationIn

DAY = timedelta(days=1)
FEN_PER_M2 = 500  # the toy's own number: 5 yuan a month per heated square metre


class HeatingIntake(BaseModel):
    model_config = ConfigDict(extra="forbid")

    heated_area_m2: int = Field(strict=True, ge=1, le=500)


def _heating_data(intake: BaseModel, _person: PersonCipher) -> dict[str, Any]:
    assert isinstance(intake, HeatingIntake)
    return {"heated_area_m2": intake.heated_area_m2}


def small_enough_home(ctx: GuardContext) -> Iterable[str]:
    """The toy's condition: at most 40 heated square metres a member."""
    people = len(ctx.case.data.get("members") or [])
    if int(ctx.case.data.get("heated_area_m2", 0)) > 40 * people:
        yield "取暖面积超过每人40平方米 / the heated area is over 40 square metres a member"


def heating_cap(data: Mapping[str, Any], _rules: Rules, _terms: Mapping[str, Any]) -> int:
    return int(data.get("heated_area_m2", 0)) * FEN_PER_M2


HEATING = AidType(
    key="heating",
    workflow="standard",
    prefix="QN",
    name_zh="取暖补贴",
    name_en="heating allowance",
    intake=HeatingIntake,
    case_data=_heating_data,
    file_model=HeatingIntake,
    eligibility=(small_enough_home,),
    amount_cap=heating_cap,
    cap_basis="每平方米5元 / 5 yuan a square metre",
)


@pytest.fixture
def heating() -> Iterator[AidType]:
    with aidtypes.registered(HEATING) as aid:
        yield aid
    assert aidtypes.find("heating") is None


def heating_household(area: int, serial: int = 1) -> ApplicationIn:
    return household(aid_type="heating", incomes=(0, 0), serial=serial, heated_area_m2=area, email="wang@example.org")


def test_a_registered_aid_type_runs_from_intake_to_active_with_its_own_prefix_cap_and_names(
    flow: Flow, now: datetime, heating: AidType
) -> None:
    w = flow.world
    case_id = flow.submit(heating_household(60), now)  # cap: 60 m2 x 500 fen = 30,000 fen
    assert flow.case(case_id).reference == "QN-2026-000001"
    with pytest.raises(GuardRejected, match="exceeds the cap of 30000 fen"):
        flow.act(case_id, "village_pass", w.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 30_001})
    flow.verify(case_id, now)
    record = flow.act(case_id, "village_pass", w.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 30_000})
    with flow.session(write=False) as s:
        shown = running_notices(s, env=flow.env, now=now + DAY)
    assert [(n.aid_type, n.aid_type_label) for n in shown] == [("heating", "取暖补贴 / heating allowance")]
    with flow.session() as s:
        on_transition(s, flow.env, record)
    with flow.session(write=False) as s:
        mail = s.exec(select(OutboxMessage)).one()
    assert "（取暖补贴）" in mail.body
    assert "(heating allowance)" in mail.body
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    with pytest.raises(GuardRejected, match="exceeds the cap of 30000 fen"):
        flow.act(
            case_id,
            "approve",
            w.boss2,
            now + 16 * DAY,
            {"monthly_amount_fen": 30_001, "basis": "人均收入低于标准 / income below the standard"},
        )
    flow.act(
        case_id,
        "approve",
        w.boss2,
        now + 16 * DAY,
        {"monthly_amount_fen": 30_000, "basis": "人均收入低于标准 / income below the standard"},
    )
    flow.sweep(now + 23 * DAY)
    case = flow.case(case_id)
    assert (case.state, case.data["monthly_amount_fen"], case.data["heated_area_m2"]) == ("active", 30_000, 60)


def test_a_registered_aid_types_own_guard_refuses_with_its_reason(flow: Flow, now: datetime, heating: AidType) -> None:
    case_id = flow.submit(heating_household(81), now)  # two members: at most 80 m2
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 1000})
    assert list(refused.value.reasons) == [
        "取暖面积超过每人40平方米 / the heated area is over 40 square metres a member"
    ]
    assert flow.state(case_id) == "village_review"


def test_the_schema_takes_its_list_and_fields_from_the_registry(heating: AidType) -> None:
    described = ApplicationIn.model_json_schema()
    assert described["properties"]["aid_type"]["enum"] == ["dibao", "tekun", "emergency", "temporary", "heating"]
    assert described["properties"]["heated_area_m2"]["type"] == "integer"
    assert "supporters" in described["properties"], "特困's own field, with its items inlined"
    assert described["properties"]["supporters"]["items"]["properties"]["able_to_support"]["type"] == "boolean"
    with pytest.raises(ValidationError, match="heated_area_m2"):
        household(aid_type="heating")
    with pytest.raises(ValidationError, match="heated_area_m2"):  # a field of one aid type, on another
        household(heated_area_m2=60)


def test_an_unregistered_aid_type_is_refused_and_gone_from_the_schema() -> None:
    with aidtypes.registered(HEATING):
        assert heating_household(60).aid_type == "heating"
    with pytest.raises(ValidationError, match="aid_type must be one of dibao, tekun, emergency"):
        heating_household(60)
    assert "heating" not in ApplicationIn.model_json_schema()["properties"]["aid_type"]["enum"]
    assert "heated_area_m2" not in ApplicationIn.model_json_schema()["properties"]


def test_a_key_or_a_prefix_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        aidtypes.register(aidtypes.get("dibao"))
    with pytest.raises(ValueError, match="prefix 'TK' is already taken"):
        aidtypes.register(AidType(**{**HEATING.__dict__, "prefix": "TK"}))
    with pytest.raises(ValueError, match="needs an amount rule"):
        aidtypes.register(AidType(**{**HEATING.__dict__, "amount_cap": None}))
    assert aidtypes.find("heating") is None
