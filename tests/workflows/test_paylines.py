"""A payment run reads of each case only what its line needs, by JSON extraction in SQL: the same
values, and so the same amounts, as the whole case file parsed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from engine.tables import Case
from tests.workflows.support import Flow, household
from workflows.paylines import PAY_KEYS, Payee, read_payees
from workflows.payments import payable_amount

MONTHS = ("2026-10", "2026-11", "2026-12", "2027-01", "2027-03")


def payees(flow: Flow, ids: list[int]) -> list[Payee]:
    with flow.session(write=False) as s:
        return list(read_payees(s.connection(), ids))


def whole(flow: Flow, ids: list[int]) -> list[Case]:
    with flow.session(write=False) as s:
        return list(s.exec(select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id))).all())


def rewrite(flow: Flow, case_id: int, **changes: Any) -> None:
    """Set keys of a case's file (None removes one), as a later act or an older file would leave it."""
    with flow.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        data = {**case.data, **changes}
        case.data = {k: v for k, v in data.items() if v is not None}
        s.add(case)


def test_read_payees_gives_the_files_own_values_and_the_same_amounts(flow: Flow, now: datetime) -> None:
    ids = [flow.to_active(household(serial=i + 1, bank_account=f"622202020011223344{i}"), now) for i in range(5)]
    ids.append(flow.to_active(household(serial=9), now))  # no bank account
    left = (now + timedelta(days=70)).isoformat()
    rewrite(flow, ids[0], exited={"at": left, "how": "voluntary", "note": '外出务工 / "left" for work'})
    rewrite(flow, ids[1], exited={"at": left, "ground": "moved"}, termination={"ground": "moved", "by": "boss"})
    rewrite(flow, ids[2], termination={"ground": "unclaimed", "months": ["2026-08", "2026-09"]})
    rewrite(flow, ids[3], monthly_amount_fen=None, instalments=[{"month": "2026-11", "amount_fen": 30_000}])
    rewrite(flow, ids[4], monthly_amount_fen="50000")  # not a whole number of fen: no line

    read = payees(flow, [*ids[::-1], 10000])  # in id order, an unknown id left out
    cases = whole(flow, ids)
    assert [p.id for p in read] == ids
    for payee, case in zip(read, cases, strict=True):
        assert (payee.workflow, payee.state, payee.region_code) == (case.workflow, case.state, case.region_code)
        assert (payee.township_code, payee.county_code) == (case.township_code, case.county_code)
        assert payee.data == {k: case.data.get(k) for k in PAY_KEYS}
        for month in MONTHS:
            assert payable_amount(flow.env, payee, month) == payable_amount(flow.env, case, month)
    assert read[0].data["exited"]["note"] == '外出务工 / "left" for work'
    assert read[5].data["bank_account_enc"] is None
    assert read[0].data["bank_account_enc"]
    assert [payable_amount(flow.env, p, "2026-11") for p in read] == [50_000, 50_000, None, None, None, 50_000]


def test_read_payees_of_no_case_reads_nothing(flow: Flow) -> None:
    assert payees(flow, []) == []
