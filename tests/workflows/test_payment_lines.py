"""Money that reaches households: lines, bank files, the bank's results, retries, and the reserve fund."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import col, select

from engine.access import SYSTEM, Actor
from engine.errors import Conflict, InvalidInput, NotFound, RoleNotPermitted
from engine.tables import AuditEntry
from tests.workflows.support import Flow, household, local
from workflows import bankfile
from workflows.fund import deposit_fund, fund_balance, fund_ledger, fund_statement, move_fund
from workflows.models import FundEntry, PaymentBatch, PaymentLine
from workflows.payments import NO_ACCOUNT, payment_lines, read_payment_lines, run_payments
from workflows.settlement import BankFileOut, export_bank_file, pay_by_hand, reconcile

DAY = timedelta(days=1)
TOWNSHIP = "341122100000"
MONTH = "2026-11"
ACCOUNTS = ("6222020200112233445", "6222020200112233446", "6222020200112233447")


def households(flow: Flow, now: datetime, n: int = 2, *, without_account: int = 0) -> list[int]:
    """`n` households active on 2026-10-21; the last `without_account` of them have no bank account."""
    ids = []
    for i in range(n):
        extra: dict[str, Any] = {} if i >= n - without_account else {"bank_account": ACCOUNTS[i]}
        ids.append(flow.to_active(household(serial=i + 1, **extra), now))
    return ids


def run(flow: Flow, at: datetime, month: str = MONTH) -> tuple[int, int, int]:
    with flow.session() as s:
        result = run_payments(s, env=flow.env, month=month, actor=SYSTEM, now=at)
        return result.created, result.already, result.retried


def export(flow: Flow, fmt: str, at: datetime, who: Actor | None = None) -> BankFileOut:
    with flow.session() as s:
        actor = flow.world.boss if who is None else who
        return export_bank_file(s, env=flow.env, actor=actor, month=MONTH, township=TOWNSHIP, fmt=fmt, now=at)


def rows_of(content: bytes) -> list[list[str]]:
    if content[:2] == b"PK":
        sheet = load_workbook(io.BytesIO(content)).worksheets[0]
        return [[str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def result_file(fmt: str, rows: list[tuple[str, str, str]]) -> bytes:
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows([("reference", "status", "reason"), *rows])
        return out.getvalue().encode("utf-8")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["reference", "status", "reason"])
    for row in rows:
        sheet.append(list(row))
    raw = io.BytesIO()
    book.save(raw)
    return raw.getvalue()


def statuses(flow: Flow) -> dict[str, str]:
    with flow.session(write=False) as s:
        return {p.reference: p.status for p in payment_lines(s, actor=flow.world.boss, month=MONTH)}


def line_audit(flow: Flow) -> list[tuple[int | None, str]]:
    with flow.session(write=False) as s:
        rows = s.exec(
            select(AuditEntry).where(col(AuditEntry.action).startswith("payment_line")).order_by(col(AuditEntry.seq))
        ).all()
        return [(e.case_id, e.action) for e in rows]


def test_a_run_makes_one_line_per_household_with_reference_name_village_and_masked_account(
    flow: Flow, now: datetime
) -> None:
    first, second = households(flow, now)
    assert run(flow, now + 40 * DAY) == (2, 0, 0)
    with flow.session(write=False) as s:
        lines = payment_lines(s, actor=flow.world.boss, month=MONTH, env=flow.env)
    assert [(p.application_id, p.status, p.amount_fen) for p in lines] == [
        (first, "pending", 50_000),
        (second, "pending", 50_000),
    ]
    assert lines[0].reference == f"PAY202611-{first:08d}"
    assert lines[0].name == "王小英"
    assert lines[0].village == "341122100201"
    assert lines[0].village_name
    assert lines[0].account == "*" * 15 + "3445", "the list shows the account's last four digits only"
    assert line_audit(flow) == [(first, "payment_line"), (second, "payment_line")]


def test_a_repeated_run_adds_no_line_and_changes_none(flow: Flow, now: datetime) -> None:
    households(flow, now)
    run(flow, now + 40 * DAY)
    before = statuses(flow)
    assert run(flow, now + 41 * DAY) == (0, 2, 0)
    assert statuses(flow) == before
    assert len(line_audit(flow)) == 2


def test_a_run_in_parts_pays_each_household_once(flow: Flow, now: datetime) -> None:
    households(flow, now, 3)
    after, made = 0, 0
    with flow.session() as s:
        while True:
            part = run_payments(
                s, env=flow.env, month=MONTH, actor=SYSTEM, now=now + 40 * DAY, after_case_id=after, limit=1
            )
            made += part.created
            after = part.last_case_id
            if part.done:
                break
    assert made == 3
    assert run(flow, now + 41 * DAY) == (0, 3, 0)


def test_two_runs_at_once_make_each_line_once(flow: Flow, now: datetime) -> None:
    households(flow, now, 3)
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(run(flow, now + 40 * DAY)[0])
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(results) == [0, 3]
    with flow.session(write=False) as s:
        assert len(s.exec(select(PaymentLine)).all()) == 3
    assert len(line_audit(flow)) == 3, "each line's creation is recorded once"


def test_a_line_without_a_bank_account_is_held_shown_to_the_township_and_never_exported(
    flow: Flow, now: datetime
) -> None:
    with_account, without = households(flow, now, 2, without_account=1)
    run(flow, now + 40 * DAY)
    with flow.session(write=False) as s:
        lines = {p.application_id: p for p in payment_lines(s, actor=flow.world.boss, month=MONTH, env=flow.env)}
    assert lines[without].held_reason == NO_ACCOUNT
    assert lines[without].account is None
    assert lines[with_account].held_reason is None
    exported = export(flow, "csv", now + 41 * DAY)
    assert [r[0] for r in rows_of(exported.content)[1:]] == [lines[with_account].reference]
    assert statuses(flow)[lines[without].reference] == "pending"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_bank_file_names_account_name_amount_in_yuan_and_reference_and_a_second_export_is_the_same_file(
    flow: Flow, now: datetime, fmt: str
) -> None:
    first, second = households(flow, now)
    run(flow, now + 40 * DAY)
    one = export(flow, fmt, now + 41 * DAY)
    rows = rows_of(one.content)
    assert rows[0] == ["reference", "account", "name", "amount"]
    assert rows[1:] == [
        [f"PAY202611-{first:08d}", ACCOUNTS[0], "王小英", "500.00"],
        [f"PAY202611-{second:08d}", ACCOUNTS[1], "王小英", "500.00"],
    ]
    assert (one.count, one.total_fen, one.batch) == (2, 100_000, 1)
    assert one.sha256 == bankfile.sha256(one.content)
    assert set(statuses(flow).values()) == {"exported"}
    audit_before = line_audit(flow)
    two = export(flow, fmt, now + 45 * DAY)
    assert (two.content, two.sha256) == (one.content, one.sha256), "exporting again yields the same file"
    assert line_audit(flow) == audit_before, "and moves no line"
    with flow.session(write=False) as s:
        batches = s.exec(select(PaymentBatch)).all()
        assert len(batches) == 1
        assert getattr(batches[0], f"sha256_{fmt}") == one.sha256
        exports = s.exec(select(AuditEntry).where(AuditEntry.action == "payment_export").order_by(AuditEntry.seq)).all()
        shown = [json.loads(e.data) for e in exports]
        assert [(d["sha256"], d["repeat"]) for d in shown] == [(one.sha256, False), (one.sha256, True)]


def test_the_xlsx_bank_file_carries_the_batch_count_and_total(flow: Flow, now: datetime) -> None:
    households(flow, now)
    run(flow, now + 40 * DAY)
    summary = load_workbook(io.BytesIO(export(flow, "xlsx", now + 41 * DAY).content))["summary"]
    values = {row[0]: row[1] for row in summary.iter_rows(values_only=True)}
    assert values["count"] == 2
    assert values["total"] == "1000.00"
    assert values["month"] == MONTH


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_reconciliation_marks_paid_and_failed_reports_unknown_references_and_a_repeated_import_changes_nothing(
    flow: Flow, now: datetime, fmt: str
) -> None:
    households(flow, now)
    run(flow, now + 40 * DAY)
    refs = [r[0] for r in rows_of(export(flow, fmt, now + 41 * DAY).content)[1:]]
    content = result_file(
        fmt,
        [(refs[0], "paid", ""), (refs[1], "failed", "账户已销户 account closed"), ("PAY209912-99999999", "paid", "")],
    )
    with flow.session() as s:
        first = reconcile(s, actor=flow.world.boss, content=content, now=now + 45 * DAY)
    assert (first.paid, first.failed, first.unchanged, first.unknown) == (1, 1, 0, ["PAY209912-99999999"])
    assert statuses(flow) == {refs[0]: "paid", refs[1]: "failed"}
    with flow.session(write=False) as s:
        lines = {p.reference: p for p in payment_lines(s, actor=flow.world.boss, month=MONTH)}
    assert lines[refs[1]].failure_reason == "账户已销户 account closed"
    audit_before = line_audit(flow)
    with flow.session() as s:
        again = reconcile(s, actor=flow.world.boss, content=content, now=now + 46 * DAY)
    assert (again.paid, again.failed, again.unchanged, again.unknown) == (0, 0, 2, ["PAY209912-99999999"])
    assert line_audit(flow) == audit_before
    assert statuses(flow) == {refs[0]: "paid", refs[1]: "failed"}


def test_a_result_for_a_line_of_another_township_is_reported_as_unknown(flow: Flow, now: datetime) -> None:
    households(flow, now, 1)
    run(flow, now + 40 * DAY)
    ref = rows_of(export(flow, "csv", now + 41 * DAY).content)[1][0]
    with flow.session() as s:
        seen = reconcile(
            s, actor=flow.world.far_boss, content=result_file("csv", [(ref, "paid", "")]), now=now + 42 * DAY
        )
    assert seen.unknown == [ref]
    assert seen.paid == 0
    assert statuses(flow) == {ref: "exported"}


def test_a_result_file_without_the_status_column_is_refused(flow: Flow, now: datetime) -> None:
    with flow.session() as s, pytest.raises(InvalidInput, match="status"):
        reconcile(s, actor=flow.world.boss, content=b"reference,reason\r\nX,\r\n", now=now)


def test_failed_lines_are_retried_in_the_next_run_in_a_new_batch(flow: Flow, now: datetime) -> None:
    households(flow, now)
    run(flow, now + 40 * DAY)
    refs = [r[0] for r in rows_of(export(flow, "csv", now + 41 * DAY).content)[1:]]
    with flow.session() as s:
        reconcile(
            s,
            actor=flow.world.boss,
            content=result_file("csv", [(refs[0], "paid", ""), (refs[1], "failed", "户名不符")]),
            now=now + 45 * DAY,
        )
    assert run(flow, now + 50 * DAY) == (0, 2, 1)
    assert statuses(flow) == {refs[0]: "paid", refs[1]: "pending"}
    second = export(flow, "csv", now + 51 * DAY)
    assert second.batch == 2
    assert [r[0] for r in rows_of(second.content)[1:]] == [refs[1]]
    with flow.session() as s:
        reconcile(s, actor=flow.world.boss, content=result_file("csv", [(refs[1], "paid", "")]), now=now + 55 * DAY)
        line = s.exec(select(PaymentLine).where(PaymentLine.reference == refs[1])).one()
        assert (line.status, line.attempt) == ("paid", 2)
    assert [a for _, a in line_audit(flow)].count("payment_line_retry") == 1


def test_a_failed_line_may_be_paid_by_hand_with_a_recorded_reason_and_not_twice(flow: Flow, now: datetime) -> None:
    households(flow, now, 1)
    run(flow, now + 40 * DAY)
    ref = rows_of(export(flow, "csv", now + 41 * DAY).content)[1][0]
    with flow.session() as s:
        reconcile(
            s, actor=flow.world.boss, content=result_file("csv", [(ref, "failed", "卡已冻结")]), now=now + 45 * DAY
        )
    with flow.session() as s, pytest.raises(InvalidInput):
        pay_by_hand(s, actor=flow.world.boss, reference=ref, reason="  ", now=now + 46 * DAY)
    with flow.session() as s:
        line = pay_by_hand(s, actor=flow.world.boss, reference=ref, reason="现金发放，村委会见证", now=now + 46 * DAY)
    assert (line.status, line.paid_by_hand) == ("paid", "现金发放，村委会见证")
    with flow.session() as s, pytest.raises(Conflict):
        pay_by_hand(s, actor=flow.world.boss, reference=ref, reason="again", now=now + 47 * DAY)
    with flow.session() as s, pytest.raises(NotFound):
        pay_by_hand(s, actor=flow.world.far_boss, reference=ref, reason="x", now=now + 47 * DAY)
    assert line_audit(flow)[-1][1] == "payment_line_paid_by_hand"
    assert run(flow, now + 50 * DAY)[2] == 0, "a line paid by hand is not retried"


def test_only_township_and_county_officers_export_and_only_in_their_township(flow: Flow, now: datetime) -> None:
    households(flow, now, 1)
    run(flow, now + 40 * DAY)
    for who in (flow.world.clerk, flow.world.far_boss, flow.world.inspector):
        with pytest.raises(RoleNotPermitted):
            export(flow, "csv", now + 41 * DAY, who)
    assert set(statuses(flow).values()) == {"pending"}
    assert export(flow, "csv", now + 41 * DAY, flow.world.county).count == 1


def test_the_fund_never_goes_below_zero_and_a_short_fund_says_who_can_top_it_up(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=100_000, actor=SYSTEM, now=now)
    with flow.session() as s, pytest.raises(InvalidInput, match="boss") as refused:
        move_fund(s, account=TOWNSHIP, kind="grant", amount_fen=100_001, actor=flow.world.boss, now=now)
    assert "top it up" in refused.value.detail
    assert "county" in refused.value.detail
    with flow.session(write=False) as s:
        assert fund_balance(s, TOWNSHIP) == 100_000
        assert all(e.balance_after_fen >= 0 for e in s.exec(select(FundEntry)).all())


def test_two_grants_at_once_never_take_the_fund_below_zero(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=150_000, actor=SYSTEM, now=now)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def grant() -> None:
        barrier.wait(timeout=30)
        try:
            with flow.session() as s:
                move_fund(s, account=TOWNSHIP, kind="grant", amount_fen=100_000, actor=flow.world.boss, now=now)
            outcomes.append("granted")
        except InvalidInput:
            outcomes.append("refused")

    threads = [threading.Thread(target=grant) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["granted", "refused"]
    with flow.session(write=False) as s:
        assert fund_balance(s, TOWNSHIP) == 50_000


def test_the_ledger_keeps_deposits_grants_refunds_and_recoveries_with_the_balance_after_each(
    flow: Flow, now: datetime
) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=500_000, actor=flow.world.boss, now=now)
    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    flow.act(
        case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 100_000, "method": "card", "payee": "王小英"}
    )
    with flow.session() as s:
        deposit_fund(
            s,
            env=flow.env,
            township_code=TOWNSHIP,
            amount_fen=30_000,
            actor=flow.world.boss,
            now=now + DAY,
            kind="refund",
            note="多发部分退回",
            case_id=case_id,
        )
        deposit_fund(
            s,
            env=flow.env,
            township_code=TOWNSHIP,
            amount_fen=20_000,
            actor=flow.world.boss,
            now=now + DAY,
            kind="recovery",
            note="冒领追回",
        )
    with flow.session(write=False) as s:
        ledger = fund_ledger(s, actor=flow.world.inspector, region=TOWNSHIP)
        grant = s.exec(select(FundEntry).where(FundEntry.kind == "grant")).one()
        assert (grant.payee, grant.method, grant.case_id) == ("王小英", "card", case_id)
        fund_actions = [e.action for e in s.exec(select(AuditEntry).where(col(AuditEntry.action).startswith("fund_")))]
    assert ledger.balance_fen == 450_000
    assert [(e.kind, e.amount_fen, e.balance_after_fen) for e in reversed(ledger.entries)] == [
        ("deposit", 500_000, 500_000),
        ("grant", 100_000, 400_000),
        ("refund", 30_000, 430_000),
        ("recovery", 20_000, 450_000),
    ]
    assert fund_actions == ["fund_deposit", "fund_grant", "fund_refund", "fund_recovery"]
    with flow.session(write=False) as s, pytest.raises(NotFound):
        fund_ledger(s, actor=flow.world.far_boss, region=TOWNSHIP)


def test_the_monthly_statement_opens_with_last_months_balance_and_sums_each_kind(flow: Flow, now: datetime) -> None:
    with flow.session() as s:
        deposit_fund(s, env=flow.env, township_code=TOWNSHIP, amount_fen=500_000, actor=SYSTEM, now=now)
        move_fund(s, account=TOWNSHIP, kind="grant", amount_fen=70_000, actor=SYSTEM, now=local("2026-10-03"))
        deposit_fund(
            s,
            env=flow.env,
            township_code=TOWNSHIP,
            amount_fen=5_000,
            actor=SYSTEM,
            now=local("2026-10-09"),
            kind="refund",
        )
    with flow.session(write=False) as s:
        october = fund_statement(s, actor=flow.world.boss, region=TOWNSHIP, month="2026-10")
    assert (october.opening_fen, october.grants_fen, october.refunds_fen, october.closing_fen) == (
        500_000,
        70_000,
        5_000,
        435_000,
    )


def test_two_exports_at_once_make_one_batch_and_the_same_file(flow: Flow, now: datetime) -> None:
    households(flow, now)
    run(flow, now + 40 * DAY)
    barrier = threading.Barrier(2)
    files: list[bytes] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            files.append(export(flow, "csv", now + 41 * DAY).content)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(files) == 2
    assert files[0] == files[1]
    with flow.session(write=False) as s:
        assert len(s.exec(select(PaymentBatch)).all()) == 1


def test_an_older_result_file_imported_again_after_a_retry_is_reported_stale_and_changes_nothing(
    flow: Flow, now: datetime
) -> None:
    households(flow, now, 1)
    run(flow, now + 40 * DAY)
    ref = rows_of(export(flow, "csv", now + 41 * DAY).content)[1][0]
    first = result_file("csv", [(ref, "failed", "户名不符")])
    with flow.session() as s:
        assert reconcile(s, actor=flow.world.boss, content=first, now=now + 45 * DAY).failed == 1
    run(flow, now + 50 * DAY)  # the retry: pending, attempt 2
    assert export(flow, "csv", now + 51 * DAY).batch == 2
    with flow.session() as s:
        again = reconcile(s, actor=flow.world.boss, content=first, now=now + 52 * DAY)
    assert (again.failed, again.stale) == (0, [ref]), "the first month's file must not fail the retried line"
    assert statuses(flow) == {ref: "exported"}
    with flow.session() as s:
        reconcile(s, actor=flow.world.boss, content=result_file("csv", [(ref, "paid", "")]), now=now + 55 * DAY)
    with flow.session() as s:
        late = reconcile(s, actor=flow.world.boss, content=first, now=now + 60 * DAY)
    assert (late.failed, late.stale) == (0, [ref])
    with flow.session(write=False) as s:
        line = s.exec(select(PaymentLine).where(PaymentLine.reference == ref)).one()
        assert (line.status, line.attempt) == ("paid", 2)
        last = s.exec(
            select(AuditEntry).where(AuditEntry.action == "payment_reconcile").order_by(col(AuditEntry.seq).desc())
        ).first()
        assert last is not None
        assert json.loads(last.data)["stale"] == 1


def test_reading_the_payments_list_is_recorded_on_the_trail(flow: Flow, now: datetime) -> None:
    first, second = households(flow, now)
    run(flow, now + 40 * DAY)
    with flow.session() as s:
        lines = read_payment_lines(
            s, actor=flow.world.boss, month=MONTH, env=flow.env, now=now + 41 * DAY, township=TOWNSHIP
        )
    assert len(lines) == 2
    with flow.session(write=False) as s:
        read = s.exec(select(AuditEntry).where(AuditEntry.action == "payments_read")).one()
    assert (read.actor, read.region_code) == ("boss", TOWNSHIP)
    assert json.loads(read.data)["application_ids"] == [first, second]
