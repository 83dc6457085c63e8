"""The end of support and its money: unclaimed payments (D3), the months after a voluntary exit (E7),
termination grounds and minors (T6), recovery of sums paid wrongly with the fine (D4)."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from engine.access import SYSTEM
from engine.errors import Conflict, DefinitionInvalid, GuardRejected, InvalidInput, NotFound, RoleNotPermitted
from engine.tables import AuditEntry
from tests.workflows.support import Flow, household, local, make_env
from workflows.fund import fund_ledger
from workflows.models import PaymentLine
from workflows.oversight.live import verify_live
from workflows.payments import payment_lines, run_payments
from workflows.policy import Override
from workflows.recovery import record_recovery
from workflows.reports import FLAG_RULES, integrity_flags, overdue_flags
from workflows.settlement import export_bank_file, reconcile

DAY = timedelta(days=1)

TOWNSHIP = "341122100000"
ACCOUNTS = ("6222020200112233445", "6222020200112233446")


def months_from(first: str, count: int) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def run(flow: Flow, month: str, at: datetime | None = None) -> int:
    with flow.session() as s:
        return run_payments(s, env=flow.env, month=month, actor=SYSTEM, now=at or local(f"{month}-01")).created


def lines_of(flow: Flow, case_id: int) -> dict[str, PaymentLine]:
    with flow.session(write=False) as s:
        rows = s.exec(select(PaymentLine).where(PaymentLine.case_id == case_id)).all()
        for row in rows:
            s.expunge(row)
        return {row.month: row for row in rows}


def result_csv(rows: list[tuple[str, str, str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([("reference", "status", "reason"), *rows])
    return out.getvalue().encode("utf-8")


def settle(flow: Flow, month: str, at: datetime, failing: set[int]) -> None:
    """Export every month up to `month` that has lines waiting, and have the bank pay them, except the
    lines of the `failing` cases, which fail (an account closed)."""
    for m in months_from("2026-11", 24):
        if m > month:
            break
        with flow.session(write=False) as s:
            waiting = [
                p
                for p in payment_lines(s, actor=flow.world.boss, month=m)
                if p.status == "pending" and not p.held_reason
            ]
        if not waiting:
            continue
        with flow.session() as s:
            export_bank_file(s, env=flow.env, actor=flow.world.boss, month=m, township=TOWNSHIP, fmt="csv", now=at)
        rows = [
            (p.reference, "failed" if p.application_id in failing else "paid", f"账户已注销 {month}") for p in waiting
        ]
        with flow.session() as s:
            reconcile(s, actor=flow.world.boss, content=result_csv(rows), now=at)


def test_D3_six_months_unclaimed_in_a_row_end_support_and_the_next_run_pays_nothing_more(
    flow: Flow, now: datetime
) -> None:
    unclaimed = flow.to_active(household(serial=1, bank_account=ACCOUNTS[0]), now)  # active 2026-10-21
    paid = flow.to_active(household(serial=2, bank_account=ACCOUNTS[1]), now)
    for month in months_from("2026-11", 6):  # 2026-11 .. 2027-04: every line of the first fails
        run(flow, month)
        settle(flow, month, local(f"{month}-20"), failing={unclaimed})
        assert flow.state(unclaimed) == "active", f"{month}: fewer months than the policy's six"
    with flow.session() as s:
        result = run_payments(s, env=flow.env, month="2027-05", actor=SYSTEM, now=local("2027-05-01"))
    assert result.ended_unclaimed == 1
    ended = flow.case(unclaimed)
    assert ended.state == "exited"
    assert ended.data["exited"]["ground"] == "unclaimed"
    assert ended.data["termination"]["months"] == months_from("2026-11", 6)
    assert [f["kind"] for f in ended.data["flags"]] == ["unclaimed"]
    assert flow.state(paid) == "active"
    lines = lines_of(flow, unclaimed)
    assert "2027-05" not in lines, "support ended: no line for the month of the run"
    assert {p.status for p in lines.values()} == {"failed"}, "its failed lines are no longer retried"
    assert "2027-05" in lines_of(flow, paid)
    with flow.session(write=False) as s:
        fired = s.exec(
            select(AuditEntry).where(AuditEntry.case_id == unclaimed, AuditEntry.action == "end_unclaimed")
        ).one()
        assert (fired.actor, fired.from_state, fired.to_state) == ("system", "active", "exited")
    assert run(flow, "2027-06") == 1, "only the household still supported"
    with flow.session(write=False) as s:
        shown = [f for f in overdue_flags(s, actor=flow.world.inspector) if f.kind == "unclaimed"]
    assert [(f.application_id, f.rule) for f in shown] == [(unclaimed, FLAG_RULES["unclaimed"])]
    with flow.session(write=False) as s:
        assert verify_live(s).ok, verify_live(s).why


def test_D3_a_month_paid_in_between_breaks_the_run_of_unclaimed_months(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(serial=1, bank_account=ACCOUNTS[0]), now)
    for month in months_from("2026-11", 6):
        run(flow, month)
        # the third month's line is paid at the bank; the others fail
        settle(flow, month, local(f"{month}-20"), failing=set() if month == "2027-01" else {case_id})
    run(flow, "2027-05")
    assert flow.state(case_id) == "active"


def test_D3_a_tekun_case_unclaimed_goes_to_the_county_as_any_termination_does(
    now: datetime, db: Any, world: Any
) -> None:
    flow = Flow(db, make_env(Override("", date(2020, 1, 1), {"review": {"unclaimed_cancel_months": 2}})), world)
    case_id = flow.to_active(household(aid_type="tekun", born="19500101", incomes=(0,), bank_account=ACCOUNTS[0]), now)
    for month in months_from("2026-11", 2):
        run(flow, month)
        settle(flow, month, local(f"{month}-20"), failing={case_id})
    run(flow, "2027-01")
    case = flow.case(case_id)
    assert case.state == "termination_approval", "T7: the county approves, the township verifies"
    assert case.data["termination"]["ground"] == "unclaimed"
    assert "2027-01" not in lines_of(flow, case_id)
    flow.act(case_id, "approve_termination", world.county, local("2027-01-05"))
    assert flow.state(case_id) == "notice_termination"


def test_E7_a_voluntary_exit_pays_the_policys_months_after_it_once_each(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(bank_account=ACCOUNTS[0]), now)  # active 2026-10-21, paid from 2026-11
    assert flow.env.rules(TOWNSHIP, now).voluntary_exit_months == 1
    flow.act(case_id, "voluntary_exit", flow.world.boss, local("2026-12-10"), {"reason": "已就业 / found work"})
    assert flow.state(case_id) == "exited"
    made = {m: run(flow, m) for m in months_from("2026-11", 4)}
    assert made == {"2026-11": 1, "2026-12": 1, "2027-01": 1, "2027-02": 0}
    assert [run(flow, m, local(f"{m}-20")) for m in months_from("2026-11", 4)] == [0, 0, 0, 0], "exactly once"
    assert sorted(lines_of(flow, case_id)) == ["2026-11", "2026-12", "2027-01"]
    with flow.session(write=False) as s:
        found = integrity_flags(s, actor=flow.world.inspector, env=flow.env)
    assert [f for f in found if f.kind == "paid_after_exit"] == [], "the months E7 pays are not paid after exit"


def test_E7_the_months_after_a_voluntary_exit_are_policy(now: datetime, db: Any, world: Any) -> None:
    flow = Flow(db, make_env(Override("", date(2020, 1, 1), {"review": {"voluntary_exit_months": 3}})), world)
    case_id = flow.to_active(household(bank_account=ACCOUNTS[0]), now)
    flow.act(case_id, "voluntary_exit", world.boss, local("2026-12-10"), {"reason": "外出务工 / left to work"})
    for month in months_from("2026-11", 6):
        run(flow, month)
    assert sorted(lines_of(flow, case_id)) == ["2026-11", "2026-12", "2027-01", "2027-02", "2027-03"]
    with pytest.raises(DefinitionInvalid, match="voluntary_exit_months"):
        make_env(Override("", date(2020, 1, 1), {"review": {"voluntary_exit_months": 4}}))


def test_E7_grace_period_months_are_lines_like_any_other_and_its_end_pays_no_more(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(bank_account=ACCOUNTS[0]), now)
    flow.act(case_id, "start_review", flow.world.boss, local("2026-11-02"))
    flow.act(case_id, "begin_exit", flow.world.boss, local("2026-11-05"), {"reason": "就业增收 / income from work"})
    assert flow.state(case_id) == "grace_period"
    assert [run(flow, m) for m in months_from("2026-11", 3)] == [1, 1, 1]
    flow.sweep(local("2027-11-06"))  # the 12 months of 渐退 run out
    assert flow.case(case_id).data["exited"]["how"] == "grace_period_ended"
    assert run(flow, "2027-11", local("2027-11-10")) == 1, "the month it ended"
    assert run(flow, "2027-12", local("2027-12-01")) == 0, "no months after an exit that was not voluntary"


def test_T6_a_termination_names_its_ground_from_the_list(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(), now)
    at = local("2026-11-10")
    with pytest.raises(GuardRejected, match="ground"):
        flow.act(case_id, "terminate", flow.world.boss, at, {"reason": "已死亡 / deceased"})
    with pytest.raises(GuardRejected, match="ground"):
        flow.act(case_id, "terminate", flow.world.boss, at, {"reason": "x", "ground": "moved_away"})
    with pytest.raises(GuardRejected, match="payment run"):
        flow.act(case_id, "terminate", flow.world.boss, at, {"reason": "x", "ground": "unclaimed"})
    flow.act(case_id, "terminate", flow.world.boss, at, {"reason": "已死亡 / deceased", "ground": "death"})
    case = flow.case(case_id)
    assert case.state == "exited"
    assert (case.data["termination"]["ground"], case.data["exited"]["ground"]) == ("death", "death")


def test_T6_a_tekun_minor_keeps_support_until_eighteen_and_longer_while_in_school(flow: Flow, now: datetime) -> None:
    w = flow.world
    # born 2010-03-01: 16 when supported from 2026-10-21
    case_id = flow.to_active(household(aid_type="tekun", born="20100301", incomes=(0,)), now)
    able = {"reason": "已成年 / came of age", "ground": "work_capacity"}
    with pytest.raises(GuardRejected, match="until 18"):
        flow.act(case_id, "terminate", w.boss, local("2028-02-28"), able)
    with pytest.raises(GuardRejected, match="in school"):
        flow.act(case_id, "terminate", w.boss, local("2028-03-02"), able)
    with pytest.raises(GuardRejected, match="while the person is in school"):
        flow.act(case_id, "terminate", w.boss, local("2028-03-02"), {**able, "school": "in_school"})
    assert flow.state(case_id) == "active"
    # other grounds are not held back by age
    flow.act(case_id, "terminate", w.boss, local("2028-03-02"), {**able, "school": "left_school"})
    case = flow.case(case_id)
    assert case.state == "termination_approval"
    assert case.data["termination"]["school"] == "left_school"


def test_T6_a_minors_support_ends_on_other_grounds_at_any_age(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(aid_type="tekun", born="20100301", incomes=(0,)), now)
    flow.act(
        case_id, "terminate", flow.world.boss, local("2027-01-05"), {"reason": "死亡 / deceased", "ground": "death"}
    )
    assert flow.state(case_id) == "termination_approval"


def test_D4_a_recovery_goes_into_the_fund_and_the_fine_must_be_one_to_three_times_it(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to_active(household(), now)
    at = local("2027-01-05")

    def recover(who: Any = w.boss, **kw: Any) -> Any:
        args: dict[str, Any] = {"amount_fen": 100_000, "reason": "隐瞒工资收入 / hid wages", **kw}
        with flow.session() as s:
            return record_recovery(s, env=flow.env, actor=who, case_id=case_id, now=at, **args)

    for fine in (50_000, 300_001):
        with pytest.raises(InvalidInput, match="1 to 3 times"):
            recover(fine_fen=fine)
    with pytest.raises(InvalidInput, match="reason"):
        recover(reason=" ")
    with pytest.raises(RoleNotPermitted):
        recover(who=w.clerk)
    with pytest.raises(NotFound):
        recover(who=w.far_boss)
    done = recover(fine_fen=200_000)
    assert (done.amount_fen, done.fine_fen, done.fund, done.fund_balance_fen) == (100_000, 200_000, TOWNSHIP, 100_000)
    flow.act(case_id, "terminate", w.boss, at, {"reason": "骗取低保 / fraud", "ground": "fraud"})
    assert recover(amount_fen=30_000).fund_balance_fen == 130_000, "after exit too, and without a fine (an error)"
    with flow.session(write=False) as s:
        ledger = fund_ledger(s, actor=w.inspector, region=TOWNSHIP)
        entries = s.exec(
            select(AuditEntry).where(AuditEntry.case_id == case_id, col(AuditEntry.action) == "record_recovery")
        ).all()
    assert [(e.kind, e.amount_fen, e.application_id) for e in reversed(ledger.entries)] == [
        ("recovery", 100_000, case_id),
        ("recovery", 30_000, case_id),
    ]
    recorded = [(e.to_state, json.loads(e.data)["fine_fen"], json.loads(e.data)["fine_multiple"]) for e in entries]
    assert recorded == [("active", 200_000, "2"), ("exited", 0, None)]
    with flow.session(write=False) as s:
        assert verify_live(s).ok, "each recovery's fund entry has its entry on the trail"


def test_D4_no_recovery_on_a_case_that_was_never_supported(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with flow.session() as s, pytest.raises(Conflict):
        record_recovery(s, env=flow.env, actor=flow.world.boss, case_id=case_id, amount_fen=1, reason="x", now=now)


def test_D3_two_runs_at_once_end_an_unclaimed_support_once(now: datetime, db: Any, world: Any) -> None:
    flow = Flow(db, make_env(Override("", date(2020, 1, 1), {"review": {"unclaimed_cancel_months": 2}})), world)
    case_id = flow.to_active(household(serial=1, bank_account=ACCOUNTS[0]), now)
    for month in months_from("2026-11", 2):
        run(flow, month)
        settle(flow, month, local(f"{month}-20"), failing={case_id})
    barrier = threading.Barrier(2)
    ended: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            with flow.session() as s:
                ended.append(
                    run_payments(
                        s, env=flow.env, month="2027-01", actor=SYSTEM, now=local("2027-01-01")
                    ).ended_unclaimed
                )
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(ended) == [0, 1]
    with flow.session(write=False) as s:
        fired = s.exec(select(AuditEntry).where(AuditEntry.action == "end_unclaimed")).all()
    assert len(fired) == 1
    assert flow.state(case_id) == "exited"


def test_E5_three_refused_job_offers_let_the_township_end_support_and_not_before(flow: Flow, now: datetime) -> None:
    case_id = flow.to_active(household(can_work=True), now)
    w = flow.world
    on = now + 30 * DAY
    offer = {"member": 2, "offer": "县工业园装配工 / assembly work at the county park", "offered_on": "2026-11-02"}
    ground = {"ground": "refused_work", "reason": "三次无正当理由拒绝就业 / refused three job offers"}
    with pytest.raises(GuardRejected, match="not recorded as able to work"):
        flow.act(case_id, "record_job_refusal", w.boss, on, {**offer, "member": 1})
    with pytest.raises(GuardRejected, match="name the job"):
        flow.act(case_id, "record_job_refusal", w.boss, on, {**offer, "offer": " "})
    for n in range(2):
        flow.act(case_id, "record_job_refusal", w.boss, on + n * DAY, offer)
    with pytest.raises(GuardRejected, match="only 2 refused job offers"):
        flow.act(case_id, "terminate", w.boss, on + 3 * DAY, ground)
    assert flow.case(case_id).data.get("flags") in (None, [])
    flow.act(case_id, "record_job_refusal", w.boss, on + 3 * DAY, offer)
    case = flow.case(case_id)
    assert case.state == "active", "a refusal is recorded; the township decides what follows"
    assert [f["kind"] for f in case.data["flags"]] == ["job_refusals"]
    flow.act(case_id, "terminate", w.boss, on + 4 * DAY, ground)
    ended = flow.case(case_id)
    assert ended.state == "exited"
    assert ended.data["exited"]["ground"] == "refused_work"


def test_E5_the_number_of_refusals_is_policy(flow: Flow, now: datetime) -> None:
    flow.env = make_env(
        Override(region="", effective_from=date(2020, 1, 1), values={"review": {"job_refusals_before_cut": 1}})
    )
    case_id = flow.to_active(household(can_work=True), now)
    offer = {"member": 2, "offer": "保洁 / cleaning", "offered_on": "2026-11-02"}
    flow.act(case_id, "record_job_refusal", flow.world.boss, now + 30 * DAY, offer)
    assert [f["kind"] for f in flow.case(case_id).data["flags"]] == ["job_refusals"]
