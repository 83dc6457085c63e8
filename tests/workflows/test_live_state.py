"""The live tables proven against the trail: a case, payment line or fund row edited in the database
by hand (not through an act) is found by verify and named."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from engine.access import SYSTEM
from engine.tables import AuditEntry, Case
from tests.factories import OTHER_VILLAGE
from tests.workflows.support import Flow, household
from workflows.fund import deposit_fund
from workflows.models import Fund, FundEntry, PaymentLine
from workflows.oversight.live import LiveVerdict, verify_live
from workflows.payments import run_payments

DAY = timedelta(days=1)
CASES = Case.__table__  # type: ignore[attr-defined]
LINES = PaymentLine.__table__  # type: ignore[attr-defined]
ENTRIES = FundEntry.__table__  # type: ignore[attr-defined]
FUNDS = Fund.__table__  # type: ignore[attr-defined]
TOWNSHIP = "341122100000"


@pytest.fixture
def county(flow: Flow, now: datetime) -> dict[str, int]:
    """An active case paid for November, a refused one, and an emergency grant from a funded township."""
    active = flow.to_active(household(serial=1), now)
    refused = flow.submit(household(serial=2), now)
    flow.act(refused, "village_reject", flow.world.boss, now + DAY, {"reason": "收入超过标准 / income above"})
    with flow.session() as s:
        run_payments(s, env=flow.env, month="2026-11", actor=SYSTEM, now=now + 40 * DAY)
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=500_000, actor=SYSTEM, now=now)
    emergency = flow.submit(household(aid_type="emergency", serial=3), now, actor=flow.world.boss)
    flow.act(emergency, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000})
    return {"active": active, "refused": refused, "emergency": emergency}


def live(flow: Flow) -> LiveVerdict:
    with flow.session(write=False) as s:
        return verify_live(s)


def entries(flow: Flow) -> int:
    with flow.session(write=False) as s:
        return int(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def edit(flow: Flow, statement: Any) -> None:
    with flow.session() as s:
        s.execute(statement)


def test_an_untouched_county_verifies_and_reading_it_writes_no_audit_entry(flow: Flow, county: dict[str, int]) -> None:
    before = entries(flow)
    verdict = live(flow)
    assert verdict.ok, verdict.why
    assert entries(flow) == before


def test_a_refused_case_set_to_active_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    edit(flow, update(CASES).where(CASES.c.id == county["refused"]).values(state="active"))
    verdict = live(flow)
    assert verdict.cases_bad == [county["refused"]]
    assert any("active" in w for w in verdict.why)


def test_a_case_version_edited_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    edit(flow, update(CASES).where(CASES.c.id == county["active"]).values(version=CASES.c.version + 1))
    assert live(flow).cases_bad == [county["active"]]


def test_a_monthly_amount_raised_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    case = flow.case(county["active"])
    edit(
        flow,
        update(CASES).where(CASES.c.id == case.id).values(data={**case.data, "monthly_amount_fen": 90_000}),
    )
    verdict = live(flow)
    assert verdict.cases_bad == [county["active"]]
    assert any("monthly_amount_fen" in w for w in verdict.why)


def test_a_field_of_the_opening_file_edited_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    case = flow.case(county["refused"])
    edit(flow, update(CASES).where(CASES.c.id == case.id).values(data={**case.data, "assets_fen": 1}))
    verdict = live(flow)
    assert verdict.cases_bad == [county["refused"]]
    assert any("assets_fen" in w for w in verdict.why)


def test_a_case_moved_to_another_village_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    edit(flow, update(CASES).where(CASES.c.id == county["refused"]).values(region_code=OTHER_VILLAGE))
    assert live(flow).cases_bad == [county["refused"]]


def test_a_case_inserted_by_hand_without_a_trail_is_named(flow: Flow, county: dict[str, int]) -> None:
    with flow.session() as s:
        row = dict(s.execute(select(CASES).where(CASES.c.id == county["active"])).mappings().one())
        row.update(id=9_999, reference="DB-2026-999999", tracking_hash=None)
        s.execute(insert(CASES).values(**row))
    assert live(flow).cases_bad == [9_999]


def test_a_payment_line_raised_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    with flow.session() as s:
        line_id = s.execute(select(LINES.c.id).where(LINES.c.case_id == county["active"])).scalar_one()
    edit(flow, update(LINES).where(LINES.c.id == line_id).values(amount_fen=LINES.c.amount_fen + 1))
    verdict = live(flow)
    assert verdict.payment_lines_bad == [line_id]
    assert verdict.cases_bad == []


def test_a_payment_line_added_by_hand_is_named(flow: Flow, county: dict[str, int], now: datetime) -> None:
    with flow.session() as s:
        row = dict(s.execute(select(LINES).where(LINES.c.case_id == county["active"])).mappings().one())
        row.update(id=777, month="2026-12", created_at=now + 70 * DAY, reference="PAY202612-00000777")
        s.execute(insert(LINES).values(**row))
    assert live(flow).payment_lines_bad == [777]


def test_a_payment_line_paid_to_a_refused_case_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    with flow.session() as s:
        line_id = s.execute(select(LINES.c.id).where(LINES.c.case_id == county["active"])).scalar_one()
    edit(flow, update(LINES).where(LINES.c.id == line_id).values(case_id=county["refused"]))
    assert live(flow).payment_lines_bad == [line_id]


def test_a_deposit_raised_by_hand_is_named_and_so_is_the_fund(flow: Flow, county: dict[str, int]) -> None:
    with flow.session() as s:
        deposit = s.execute(select(ENTRIES.c.id).where(ENTRIES.c.kind == "deposit")).scalar_one()
    edit(flow, update(ENTRIES).where(ENTRIES.c.id == deposit).values(amount_fen=900_000, balance_after_fen=900_000))
    verdict = live(flow)
    assert deposit in verdict.fund_entries_bad
    assert verdict.cases_bad == []


def test_a_fund_balance_raised_by_hand_is_named(flow: Flow, county: dict[str, int]) -> None:
    edit(flow, update(FUNDS).where(FUNDS.c.account_code == TOWNSHIP).values(balance_fen=FUNDS.c.balance_fen + 1))
    verdict = live(flow)
    assert verdict.funds_bad == [TOWNSHIP]
    assert verdict.fund_entries_bad == []


def test_a_debit_deleted_by_hand_is_found(flow: Flow, county: dict[str, int]) -> None:
    edit(flow, delete(ENTRIES).where(ENTRIES.c.kind == "grant"))
    assert live(flow).funds_bad == [TOWNSHIP]


def test_a_debit_without_a_grant_is_named(flow: Flow, county: dict[str, int]) -> None:
    with flow.session() as s:
        debit = s.execute(select(ENTRIES.c.id).where(ENTRIES.c.kind == "grant")).scalar_one()
    edit(flow, update(ENTRIES).where(ENTRIES.c.id == debit).values(case_id=county["active"]))
    assert live(flow).fund_entries_bad == [debit]


def test_a_payment_run_repeated_at_the_same_moment_verifies(flow: Flow, county: dict[str, int], now: datetime) -> None:
    with flow.session() as s:
        run_payments(s, env=flow.env, month="2026-12", actor=SYSTEM, now=now + 70 * DAY)
    with flow.session() as s:
        run_payments(s, env=flow.env, month="2026-12", actor=SYSTEM, now=now + 70 * DAY)
    assert live(flow).ok, live(flow).why
