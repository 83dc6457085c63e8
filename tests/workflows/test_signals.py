"""人情保 signals: each planted in a seeded county is found, with its rule; a clean county raises none;
the flags report filters by kind, region, period and official, and exports to Excel."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, text

from engine.access import SYSTEM
from engine.errors import Conflict, GuardRejected, InvalidInput
from tests.factories import OTHER_VILLAGE, TOWNSHIP, VILLAGE, make_user
from tests.workflows.support import APPROVE, OFFICIAL_IDS, TOWNSHIP_PASS, Flow, household, id_number, local
from workflows.fund import deposit_fund
from workflows.models import PaymentLine
from workflows.oversight.relatives import declare_relative
from workflows.oversight.signals import RULES
from workflows.reports import FlagFilter, FlagOut, flags_xlsx, integrity_flags

DAY = timedelta(days=1)
START = local("2026-11-02")  # a Monday, 10:00, clear of the National Day holidays
LINES = PaymentLine.__table__  # type: ignore[attr-defined]


def own(serial: int, village: str = VILLAGE, **extra: Any) -> Any:
    """A household with its own phone number."""
    number = id_number("19700101", serial * 10, village)
    applicant = {"name": "王小英", "id_number": number, "phone": f"1380000{serial:04d}"}
    return household(serial=serial, village=village, applicant=applicant, **extra)


def flags(flow: Flow, only: FlagFilter | None = None) -> list[FlagOut]:
    with flow.session(write=False) as s:
        return integrity_flags(s, actor=flow.world.inspector, env=flow.env, only=only)


def kinds(flow: Flow) -> dict[str, list[FlagOut]]:
    found: dict[str, list[FlagOut]] = {}
    for f in flags(flow):
        found.setdefault(f.kind, []).append(f)
    return found


def active(flow: Flow, payload: Any) -> int:
    """A case filed at START and walked through its three notices in working hours: active 23 days later."""
    w = flow.world
    case_id = flow.submit(payload, START)
    flow.verify(case_id, START)
    flow.act(case_id, "village_pass", w.clerk, START, _village_pass())
    flow.sweep(START + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, START + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(START + 15 * DAY)
    flow.act(case_id, "approve", w.boss2, START + 16 * DAY, APPROVE)
    flow.sweep(START + 23 * DAY)
    assert flow.state(case_id) == "active"
    return case_id


@pytest.fixture
def clean(flow: Flow) -> dict[str, int]:
    """Two households supported, one open, one in the other township, all decided in working hours."""
    return {
        "a": active(flow, own(1)),
        "b": active(flow, own(2)),
        "c": flow.submit(own(3), START),
        "d": flow.submit(own(4, village=OTHER_VILLAGE), START, actor=flow.world.far_clerk),
    }


def test_a_clean_county_raises_no_signal(flow: Flow, clean: dict[str, int]) -> None:
    assert flags(flow) == []


def test_two_open_households_sharing_a_bank_account_are_both_flagged(flow: Flow, clean: dict[str, int]) -> None:
    one = flow.submit(own(5, bank_account="6222020200112233"), START)
    two = flow.submit(own(6, bank_account="6222020200112233"), START)
    found = kinds(flow)["shared_bank_account"]
    assert {f.application_id for f in found} == {one, two}
    assert found[0].rule == RULES["shared_bank_account"]


def test_two_open_households_giving_one_phone_are_both_flagged(flow: Flow, clean: dict[str, int]) -> None:
    one = flow.submit(household(serial=5), START)
    two = flow.submit(household(serial=6), START)
    assert {f.application_id for f in kinds(flow)["shared_phone"]} == {one, two}


def test_a_decision_at_night_is_flagged_with_its_official(flow: Flow, clean: dict[str, int]) -> None:
    flow.act(clean["c"], "village_pass", flow.world.clerk, local("2026-11-03", 22), _village_pass())
    found = kinds(flow)["after_hours"]
    assert [(f.application_id, f.official) for f in found] == [(clean["c"], "clerk")]


def test_a_decision_on_a_holiday_is_flagged(flow: Flow, clean: dict[str, int]) -> None:
    flow.act(clean["c"], "village_pass", flow.world.clerk, local("2026-11-07", 10), _village_pass())
    assert [f.application_id for f in kinds(flow)["after_hours"]] == [clean["c"]]


def test_an_amount_changed_after_approval_is_flagged(flow: Flow, clean: dict[str, int]) -> None:
    later = START + 60 * DAY
    flow.act(clean["a"], "start_review", flow.world.boss, later)
    flow.verify(clean["a"], later)  # D6: the review's fresh report
    flow.act(clean["a"], "adjust", flow.world.boss, later, {"monthly_amount_fen": 30_000, "reason": "收入增加"})
    found = kinds(flow)["changed_after_approval"]
    assert [(f.application_id, f.official) for f in found] == [(clean["a"], "boss")]


def test_a_payment_after_exit_is_flagged(flow: Flow, clean: dict[str, int]) -> None:
    later = START + 60 * DAY
    flow.act(clean["a"], "voluntary_exit", flow.world.boss, later, {"reason": "外出务工 / moved away"})
    case = flow.case(clean["a"])
    assert case.state == "exited"
    with flow.session() as s:
        s.execute(
            insert(LINES).values(
                case_id=case.id,
                month="2027-05",
                amount_fen=50_000,
                status="pending",
                region_code=case.region_code,
                township_code=case.township_code,
                county_code=case.county_code,
                created_at=later,
            )
        )
    assert [f.application_id for f in kinds(flow)["paid_after_exit"]] == [clean["a"]]


def _emergency(flow: Flow, serial: int, paperwork: str) -> int:
    case_id = flow.submit(own(serial, aid_type="emergency"), START, actor=flow.world.boss)
    flow.act(case_id, "grant_emergency", flow.world.boss, START, {"amount_fen": 100_000})
    flow.act(case_id, "complete_paperwork", flow.world.boss, START + DAY, {"note": paperwork})
    return case_id


def test_an_emergency_grant_closed_with_empty_paperwork_is_flagged_and_the_fast_channel_share_too(
    flow: Flow, clean: dict[str, int]
) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=1_000_000, actor=SYSTEM, now=START)
    bare = _emergency(flow, 7, "")
    _emergency(flow, 8, "补齐签字盖章 / signed and stamped")
    found = kinds(flow)
    assert [f.application_id for f in found["grant_without_paperwork"]] == [bare]
    assert [f.region_code for f in found["fast_channel_share"]] == [TOWNSHIP]


def test_kind_region_period_and_official_filter_the_flags(flow: Flow, clean: dict[str, int]) -> None:
    flow.act(clean["c"], "village_pass", flow.world.clerk, local("2026-11-03", 22), _village_pass())
    flow.submit(household(serial=5), START)
    flow.submit(household(serial=6), START)
    assert {f.kind for f in flags(flow)} == {"after_hours", "shared_phone"}
    assert {f.kind for f in flags(flow, FlagFilter(kind="after_hours"))} == {"after_hours"}
    assert flags(flow, FlagFilter(kind="after_hours", official="clerk2")) == []
    assert flags(flow, FlagFilter(region=OTHER_VILLAGE)) == []
    assert flags(flow, FlagFilter(kind="after_hours", since=local("2026-11-04"))) == []
    assert len(flags(flow, FlagFilter(kind="after_hours", until=local("2026-11-04")))) == 1


def test_the_flags_export_to_excel_with_their_rules(flow: Flow, clean: dict[str, int]) -> None:
    flow.act(clean["c"], "village_pass", flow.world.clerk, local("2026-11-03", 22), _village_pass())
    rows = list(load_workbook(io.BytesIO(flags_xlsx(flags(flow))))["问题线索"].iter_rows(values_only=True))
    assert rows[1][0] == "after_hours"
    assert rows[1][1] == RULES["after_hours"]
    assert rows[1][6] == "clerk"


def test_a_missed_clock_names_the_official_who_held_the_case(flow: Flow, clean: dict[str, int]) -> None:
    flow.act(clean["c"], "village_pass", flow.world.clerk, START, _village_pass())
    flow.sweep(START + 7 * DAY)  # the village notice ends: the township holds it, and lets its clock run out
    flow.sweep(START + 120 * DAY)
    missed = [f for f in flags(flow) if f.kind not in RULES and f.application_id == clean["c"]]
    assert missed
    assert all(f.official == "clerk" for f in missed), [(f.kind, f.official, f.at) for f in missed]
    assert all(f.rule for f in missed)


def _village_pass() -> dict[str, Any]:
    return {"investigators": ["clerk", "clerk2"], "visit_date": "2026-11-02", "proposed_monthly_fen": 50_000}


def declare(flow: Flow, official: str, number: str, relation: str = "兄弟姐妹") -> None:
    with flow.session() as s:
        declare_relative(
            s,
            env=flow.env,
            actor=SYSTEM,
            username=official,
            name="王家亲",
            id_number=number,
            relation=relation,
            now=START,
        )


def test_a_member_an_official_declared_as_a_relative_is_flagged_though_the_household_declared_none(
    flow: Flow, clean: dict[str, int]
) -> None:
    member = id_number("19950505", 51, VILLAGE)  # the second member of household serial 5
    declare(flow, "clerk", member)
    case_id = flow.submit(own(5), START, actor=flow.world.clerk)
    found = kinds(flow)["declared_relative"]
    assert [(f.application_id, f.official) for f in found] == [(case_id, "clerk")]
    assert found[0].detail is not None
    assert "acted on the case" in found[0].detail


def test_a_relative_is_declared_once_with_a_valid_number_and_a_known_relation(flow: Flow) -> None:
    number = id_number("19950505", 51, VILLAGE)
    declare(flow, "clerk", number)
    with pytest.raises(Conflict):
        declare(flow, "clerk", number)
    with pytest.raises(InvalidInput):
        declare(flow, "clerk", number[:-1] + ("0" if number[-1] != "0" else "1"))
    with pytest.raises(InvalidInput):
        declare(flow, "clerk2", number, relation="朋友")


def test_a_household_giving_an_officials_email_or_counting_an_official_among_its_members_is_flagged(
    flow: Flow, clean: dict[str, int]
) -> None:
    from sqlmodel import select as sql_select

    from engine.tables import User

    with flow.session() as s:
        user = s.exec(sql_select(User).where(User.username == "clerk2")).one()
        user.email = "Clerk2@Example.cn"
        s.add(user)
    mailed_body = own(5).model_dump()
    mailed_body["applicant"]["email"] = "clerk2@example.cn"
    mailed = flow.submit(type(own(5)).model_validate(mailed_body), START)
    boss_id = OFFICIAL_IDS["boss3"]
    member = {"name": "李三", "id_number": boss_id, "relation": "子女", "monthly_income_fen": 0}
    payload = own(6)
    body = payload.model_dump()
    with_official = flow.submit(type(payload).model_validate({**body, "members": [*body["members"], member]}), START)
    found = kinds(flow)["shared_with_official"]
    assert sorted((f.application_id, f.official) for f in found) == [(mailed, "clerk2"), (with_official, "boss3")]
    assert all(f.rule == RULES["shared_with_official"] for f in found)


def test_one_person_at_two_stages_under_two_accounts_is_refused_once_both_carry_the_identity(
    flow: Flow, clean: dict[str, int]
) -> None:
    w = flow.world
    with flow.session() as s:
        # the village officer clerk2 also holds a township account (moved up, kept the old one)
        make_user(
            s, "clerk2_township", role="township_officer", region=TOWNSHIP, id_number_hash=w.clerk2.id_number_hash
        )
    case_id = clean["c"]
    flow.verify(case_id, START)
    flow.act(case_id, "village_pass", w.clerk2, START, {**_village_pass(), "investigators": ["clerk", "clerk2"]})
    flow.sweep(START + 7 * DAY)
    twin = _account(flow, "clerk2_township")
    with pytest.raises(GuardRejected, match="you acted at the village review"):
        flow.act(case_id, "township_pass", twin, START + 8 * DAY, TOWNSHIP_PASS)
    assert kinds(flow).get("two_stages", []) == [], "refused: nothing done at two stages"


def test_one_person_acting_at_two_stages_under_two_accounts_is_flagged(flow: Flow, clean: dict[str, int]) -> None:
    """An identity number registered on the second account only after the acts: the signal finds it."""
    w = flow.world
    with flow.session() as s:
        make_user(s, "clerk2_township", role="township_officer", region=TOWNSHIP)
    case_id = clean["c"]
    flow.verify(case_id, START)
    flow.act(case_id, "village_pass", w.clerk2, START, {**_village_pass(), "investigators": ["clerk", "clerk2"]})
    flow.sweep(START + 7 * DAY)
    flow.act(case_id, "township_pass", _account(flow, "clerk2_township"), START + 8 * DAY, TOWNSHIP_PASS)
    with flow.session() as s:
        s.execute(
            text("UPDATE users SET id_number_hash = :h WHERE username = 'clerk2_township'"),
            {"h": w.clerk2.id_number_hash},
        )
    found = kinds(flow)["two_stages"]
    assert [(f.application_id, f.official) for f in found] == [(case_id, "clerk2_township")]
    assert found[0].detail == "clerk2、clerk2_township: township、village"
    assert found[0].rule == RULES["two_stages"]


def _account(flow: Flow, username: str) -> Any:
    from sqlmodel import select as sql_select

    from engine.accounts import actor_for
    from engine.tables import User

    with flow.session(write=False) as s:
        return actor_for(s, s.exec(sql_select(User).where(User.username == username)).one())
