"""The 月通报: per township and for the county, counted from the trail, the payment lines and the fund;
checked against a hand count of a small county's month, and reopened as Excel."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from engine.access import SYSTEM
from engine.errors import NotFound
from tests.factories import COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE, TOWNSHIP
from tests.workflows.support import Flow, household, local
from workflows import aidtypes
from workflows.fund import deposit_fund
from workflows.oversight.monthly import FIGURES, MonthlyReport, monthly_report, monthly_xlsx
from workflows.payments import payment_lines, run_payments

REASON = {"reason": "经核查收入超过标准 / income above the standard"}


@pytest.fixture
def county(flow: Flow) -> dict[str, int]:
    """A: filed in September, approved and active from 2026-10-21 (two persons). In October: B filed and
    refused, C filed and withdrawn, D an emergency fire grant of 1,000 yuan from a fund paid 5,000 yuan,
    E filed in the other township. November's payroll pays A 500 yuan."""
    w = flow.world
    a = flow.to_active(household(serial=1), local("2026-09-28"))
    b = flow.submit(household(serial=2), local("2026-10-02"))
    flow.act(b, "village_reject", w.boss, local("2026-10-03"), REASON)
    c = flow.submit(household(serial=3), local("2026-10-05"))
    flow.act(c, "withdraw", w.clerk, local("2026-10-06"), {"reason": "申请人自愿撤回 / withdrawn by the applicant"})
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=500_000, actor=SYSTEM, now=local("2026-10-01"))
    d = flow.submit(household(aid_type="emergency", serial=4), local("2026-10-10"), actor=w.boss)
    flow.act(d, "grant_emergency", w.boss, local("2026-10-10"), {"amount_fen": 100_000})
    e = flow.submit(household(serial=5, village=OTHER_VILLAGE), local("2026-10-08"), actor=w.far_clerk)
    with flow.session() as s:
        run_payments(s, env=flow.env, month="2026-11", actor=SYSTEM, now=local("2026-11-05"))
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def report(flow: Flow, region: str, month: str) -> MonthlyReport:
    with flow.session(write=False) as s:
        return monthly_report(s, actor=flow.world.inspector, region=region, month=month)


def test_the_county_s_october_matches_a_hand_count(flow: Flow, county: dict[str, int]) -> None:
    oct = report(flow, COUNTY, "2026-10")
    assert (oct.received, oct.approved, oct.refused, oct.withdrawn) == (4, 2, 1, 1), "B C D E; A and D; B; C"
    assert (oct.active_households, oct.active_persons, oct.paid_fen) == (1, 2, 0)
    assert (oct.emergency_grants, oct.emergency_fen) == (1, 100_000)
    assert (oct.fund_deposits_fen, oct.fund_debits_fen) == (500_000, 100_000)
    assert oct.on_notice == 2, "A's township notice (10-06) and final notice (10-14) were posted in October"
    assert oct.accepted == 0, "A passed the village in September; B, C and E never did"
    assert (oct.by_aid_type["dibao"].received, oct.by_aid_type["emergency"].received) == (3, 1)
    assert (oct.by_aid_type["dibao"].approved, oct.by_aid_type["emergency"].approved) == (1, 1)
    assert oct.by_cause["disaster"].emergency_fen == 100_000, "a fire counts as 因灾"
    townships = {t.region: t for t in oct.townships}
    assert (townships[TOWNSHIP].received, townships[OTHER_TOWNSHIP].received) == (3, 1)
    assert townships[TOWNSHIP].fund_debits_fen == 100_000


def test_september_received_and_accepted_a_and_posted_its_village_notice(flow: Flow, county: dict[str, int]) -> None:
    sep = report(flow, COUNTY, "2026-09")
    assert (sep.received, sep.accepted, sep.on_notice, sep.approved, sep.active_households) == (1, 1, 1, 0, 0)


def test_november_pays_what_the_payment_lines_say(flow: Flow, county: dict[str, int]) -> None:
    nov = report(flow, COUNTY, "2026-11")
    with flow.session(write=False) as s:
        lines = payment_lines(s, actor=flow.world.inspector, month="2026-11")
    assert nov.paid_fen == sum(p.amount_fen for p in lines) == 50_000
    assert nov.by_aid_type["dibao"].paid_fen == 50_000
    assert (nov.received, nov.approved, nov.active_households) == (0, 0, 1)


def test_the_townships_and_aid_types_add_up_to_the_county(flow: Flow, county: dict[str, int]) -> None:
    oct = report(flow, COUNTY, "2026-10")
    assert set(oct.by_aid_type) >= {a.key for a in aidtypes.all()}
    for figure in FIGURES:
        total = getattr(oct, figure)
        assert sum(getattr(t, figure) for t in oct.townships) == total, figure
        assert sum(getattr(f, figure) for f in oct.by_aid_type.values()) == total, figure
        assert sum(getattr(f, figure) for f in oct.by_cause.values()) == total, figure


def test_a_township_s_report_is_its_own_figures(flow: Flow, county: dict[str, int]) -> None:
    own = report(flow, OTHER_TOWNSHIP, "2026-10")
    assert (own.received, own.approved, own.fund_debits_fen, own.townships) == (1, 0, 0, [])


def test_a_region_outside_the_official_s_scope_is_not_found(flow: Flow, county: dict[str, int]) -> None:
    with flow.session(write=False) as s, pytest.raises(NotFound):
        monthly_report(s, actor=flow.world.far_boss, region=TOWNSHIP, month="2026-10")


def test_the_excel_file_opens_again_with_the_county_s_figures(flow: Flow, county: dict[str, int]) -> None:
    oct = report(flow, COUNTY, "2026-10")
    book = load_workbook(io.BytesIO(monthly_xlsx(oct)))
    sheet = book["月通报"]
    rows = list(sheet.iter_rows(values_only=True))
    header, total = rows[1], rows[-1]
    assert total[0] == "合计 / total"
    assert total[header.index("受理申请 / received")] == 4
    assert total[header.index("发放金额（分）/ paid (fen)")] == 0
    assert total[header.index("备用金支出（分）/ fund spent (fen)")] == 100_000
    by_type = {row[1]: row for row in book["按救助类型 by aid type"].iter_rows(min_row=2, values_only=True)}
    assert by_type["emergency"][2 + FIGURES.index("emergency_fen")] == 100_000
