"""The live tables proven against the trail: cases, payment lines and fund entries each have their entries."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from engine.livestate import verify_cases
from workflows.base import AUDIT, FUNDS, LINES
from workflows.fund import CREDITS, KINDS
from workflows.models import FundEntry

_FUND_ENTRIES = FundEntry.__table__  # type: ignore[attr-defined]


@dataclass
class LiveVerdict:
    """Which live rows do not match the trail, each with why."""

    cases_bad: list[int] = field(default_factory=list)
    payment_lines_bad: list[int] = field(default_factory=list)
    fund_entries_bad: list[int] = field(default_factory=list)
    funds_bad: list[str] = field(default_factory=list)
    why: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.cases_bad or self.payment_lines_bad or self.fund_entries_bad or self.funds_bad)


def verify_live(session: Session) -> LiveVerdict:
    """Every case, payment line and fund movement against the audit entries that made it. Reads only."""
    verdict = LiveVerdict()
    for fault in verify_cases(session):
        verdict.cases_bad.append(fault.case_id)
        verdict.why += [f"案件 / case {fault.case_id}: {w}" for w in fault.why]
    _check_lines(session, verdict)
    _check_fund(session, verdict)
    return verdict


def _entries(session: Session, action: str) -> list[tuple[datetime, str, int | None, str]]:
    query = select(AUDIT.at, AUDIT.region_code, AUDIT.case_id, AUDIT.data).where(AUDIT.action == action)
    return [(at, region, case_id, data) for at, region, case_id, data in session.execute(query.order_by(AUDIT.seq))]


def _entries_with_seq(session: Session, action: str) -> list[tuple[int, datetime, str, int | None, str]]:
    query = select(AUDIT.seq, AUDIT.at, AUDIT.region_code, AUDIT.case_id, AUDIT.data).where(AUDIT.action == action)
    return [(int(r[0]), r[1], r[2], r[3], r[4]) for r in session.execute(query.order_by(AUDIT.seq))]


def _check_lines(session: Session, verdict: LiveVerdict) -> None:
    """Each month's lines were made by its payment runs: as many as each run created, summing to its total."""
    runs: dict[str, list[tuple[datetime, int, int, int]]] = defaultdict(list)
    for seq, at, _region, _case, raw in _entries_with_seq(session, "payment_run"):
        data = json.loads(raw)
        runs[str(data.get("month"))].append((at, int(data.get("created") or 0), int(data.get("total_fen") or 0), seq))
    # When each line was put on the chain: a run's total is what its transaction saw, the lines whose
    # record precedes the run's own (runs of one month at once commit in chain order, not clock order).
    recorded_at: dict[tuple[int | None, str], int] = {}
    for seq, _at, _region, case_id, raw in _entries_with_seq(session, "payment_line"):
        recorded_at.setdefault((case_id, str(json.loads(raw).get("month"))), seq)
    lines: dict[str, list[tuple[int, datetime, int, int | None]]] = defaultdict(list)
    query = select(LINES.c.id, LINES.c.month, LINES.c.created_at, LINES.c.amount_fen, LINES.c.case_id)
    bad: set[int] = set()
    found = session.execute(query.order_by(LINES.c.id)).all()
    amounts = _amounts_in_force(session, {int(row[4]) for row in found})
    plans = _instalments_set(session, {int(row[4]) for row in found})
    for line_id, month, created_at, amount, case_id in found:
        lines[month].append((int(line_id), created_at, int(amount), recorded_at.get((int(case_id), str(month)))))
        due = [fen for at, fen in amounts.get(int(case_id), []) if at <= created_at]
        planned = [plan for at, plan in plans.get(int(case_id), []) if at <= created_at]
        if planned and planned[-1].get(str(month)) == int(amount):
            continue  # temporary aid: the instalment its grant set for that month
        if not due or due[-1] != int(amount):
            bad.add(int(line_id))
            verdict.why.append(
                f"发放明细 / payment line {line_id} ({month}): 金额 {amount} 分与案件当时核定的不符 / "
                f"case {case_id} had no approved amount of {amount} fen when the line was made"
            )
    for month in sorted(set(runs) | set(lines)):
        made = lines.get(month, [])
        moments = {at for at, _c, _t, _s in runs.get(month, [])}
        strays = [i for i, at, _a, _r in made if at not in moments]
        for line_id in strays:
            verdict.why.append(
                f"发放明细 / payment line {line_id} ({month}): 无对应的发放审计记录 / no payment run made it"
            )
        bad.update(strays)
        # Runs repeated at one moment (a retry within one request's clock) made their lines together.
        together: dict[datetime, int] = {}
        for at, created, _total, _seq in runs.get(month, []):
            together[at] = together.get(at, 0) + created
        for at, created in together.items():
            own = [i for i, when, _a, _r in made if when == at]
            if len(own) != created:
                verdict.why.append(
                    f"{month} 发放批次 / payment run at {at.isoformat()}: 记录新增 {created} 笔，现有 {len(own)} 笔 / "
                    f"recorded {created} new lines, found {len(own)}"
                )
                bad.update(own)
        for at, _created, total, seq in runs.get(month, []):
            # the lines put on the chain before the run's record (one with no record: made no later)
            counted = [(i, a) for i, when, a, rec in made if (rec < seq if rec is not None else when <= at)]
            so_far = sum(a for _i, a in counted)
            if so_far != total:
                verdict.why.append(
                    f"{month} 发放批次 / payment run at {at.isoformat()}: 记录累计 {total} 分，"
                    f"此前已记录的明细累计 {so_far} 分 / recorded a total of {total} fen, "
                    f"the lines recorded before it total {so_far} fen"
                )
                bad.update([i for i, when, _a, _r in made if when == at] or [i for i, _a in counted])
    verdict.payment_lines_bad = sorted(bad)


def _amounts_in_force(session: Session, case_ids: set[int]) -> dict[int, list[tuple[datetime, int | None]]]:
    """When each case's monthly amount was set by an act, and to what; None once it exited."""
    found: dict[int, list[tuple[datetime, int | None]]] = defaultdict(list)
    if not case_ids:
        return found
    # A timer's act took effect when it fell due, whenever the sweep recorded it.
    effective = func.coalesce(AUDIT.due_at, AUDIT.at)
    query = select(AUDIT.case_id, effective, AUDIT.data).where(AUDIT.case_id.in_(sorted(case_ids)))
    for case_id, at, raw in session.execute(query.order_by(AUDIT.seq)):
        patch = json.loads(raw).get("set") or {}
        if isinstance(patch.get("monthly_amount_fen"), int):
            found[int(case_id)].append((at, patch["monthly_amount_fen"]))
    return found


def _instalments_set(session: Session, case_ids: set[int]) -> dict[int, list[tuple[datetime, dict[str, int]]]]:
    """When a temporary-aid grant set its instalments (K6), and the amount of each month."""
    found: dict[int, list[tuple[datetime, dict[str, int]]]] = defaultdict(list)
    if not case_ids:
        return found
    query = select(AUDIT.case_id, AUDIT.at, AUDIT.data).where(AUDIT.case_id.in_(sorted(case_ids)))
    for case_id, at, raw in session.execute(query.order_by(AUDIT.seq)):
        plan = (json.loads(raw).get("set") or {}).get("instalments")
        if isinstance(plan, list):
            found[int(case_id)].append((at, {str(i.get("month")): int(i.get("amount_fen") or 0) for i in plan}))
    return found


def _check_fund(session: Session, verdict: LiveVerdict) -> None:
    """Each fund movement has its `fund_<kind>` entry (same account, case and amount); balances run on
    from one movement to the next and end where the fund says."""
    recorded: dict[tuple[str, str, int | None, int], int] = defaultdict(int)
    for kind in KINDS:
        for _at, region, case_id, raw in _entries(session, f"fund_{kind}"):
            recorded[(kind, region, case_id, int(json.loads(raw).get("amount_fen") or 0))] += 1
    c = _FUND_ENTRIES.c
    query = select(c.id, c.account_code, c.kind, c.amount_fen, c.balance_after_fen, c.case_id, c.at).order_by(c.id)
    balances: dict[str, int] = {}
    bad: set[int] = set()
    for entry_id, account, kind, amount, after, case_id, _at in session.execute(query):
        key = (str(kind), str(account), case_id, int(amount))
        matched = recorded.get(key, 0) > 0
        if matched:
            recorded[key] -= 1
        sign = 1 if kind in CREDITS else -1
        running = balances.get(account, 0) + sign * int(amount)
        if not matched:
            bad.add(int(entry_id))
            verdict.why.append(
                f"备用金流水 / fund entry {entry_id}: 无对应的审计记录 / no audit entry records it ({kind} {amount})"
            )
        elif running != int(after):
            bad.add(int(entry_id))
            verdict.why.append(
                f"备用金流水 / fund entry {entry_id}: 余额应为 {running} 分 / the balance after it should be {running}"
            )
        balances[account] = int(after)
    for account, balance in session.execute(select(FUNDS.c.account_code, FUNDS.c.balance_fen)):
        if int(balance) != balances.get(account, 0):
            verdict.funds_bad.append(str(account))
            verdict.why.append(
                f"备用金 / fund {account}: 余额 {balance} 分与流水 {balances.get(account, 0)} 分不符 / "
                "the balance differs from its entries"
            )
    verdict.fund_entries_bad = sorted(bad)
