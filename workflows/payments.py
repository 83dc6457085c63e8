"""Monthly payment runs and their lines."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import Actor, Role, covers
from engine.calendar import SHANGHAI, add_months, local_date
from engine.errors import Conflict, InvalidInput, NotFound, RoleNotPermitted
from engine.queue import visible_clause
from engine.tables import Case, Region
from workflows import bankfile, review
from workflows.base import CASES, LINES, insert_or_skip, local_midnight, role_of
from workflows.common import OBJECTION_REVIEW
from workflows.models import PaymentBatch, PaymentLine
from workflows.spec import StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env


class PaymentRunResult(BaseModel):
    month: str
    created: int
    already: int
    total_fen: int
    retried: int = 0
    held: int = 0
    last_case_id: int = 0
    done: bool = True


class PaymentLineOut(BaseModel):
    application_id: int
    month: str
    amount_fen: int
    status: str
    reference: str
    name: str
    village: str
    village_name: str
    account: str | None
    held_reason: str | None
    attempt: int
    failure_reason: str | None
    paid_by_hand: str | None
    exported_at: datetime | None
    paid_at: datetime | None
    failed_at: datetime | None


class BankFileOut(BaseModel):
    township: str
    month: str
    format: str
    batch: int | None
    count: int
    total_fen: int
    sha256: str
    filename: str
    content: bytes


class ReconcileResult(BaseModel):
    sha256: str
    rows: int
    paid: int
    failed: int
    unchanged: int
    unknown: list[str]
    not_exported: list[str]
    conflicting: list[str]
    invalid: list[str]


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_start(month: str) -> datetime:
    found = _MONTH.match(month)
    if found is None:
        raise InvalidInput(f"月份格式应为 YYYY-MM / month must be YYYY-MM: {month!r}")
    return local_midnight(date(int(found[1]), int(found[2]), 1))


def month_of(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def payable_amount(env: Env, case: Case, month: str) -> int | None:
    """The amount due to a case for `month`, or None: from the month after activation (P10) to its exit."""
    activated = case.data.get("activated_at")
    amount = case.data.get("monthly_amount_fen")
    if not activated or not isinstance(amount, int):
        return None
    at = datetime.fromisoformat(activated)
    start = month_of(
        add_months(local_midnight(local_date(at).replace(day=1)), env.rules(case.region_code, at).payment_start_months)
    )
    exited = case.data.get("exited")
    if month < start or (exited and month > month_of(datetime.fromisoformat(exited["at"]))):
        return None
    return amount


NO_ACCOUNT = "无银行账户，补录后发放 / no bank account on file: paid once one is recorded"
PENDING, EXPORTED, PAID, FAILED = "pending", "exported", "paid", "failed"
FINANCE_ROLES = (Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN)


def line_reference(case_id: int, month: str) -> str:
    """A line's reference: the same for the same case and month, whichever run made it."""
    return f"PAY{month.replace('-', '')}-{case_id:08d}"


def _line_event(
    session: Session, *, case: Case, line: PaymentLine, actor: Actor, action: str, now: datetime, **data: Any
) -> None:
    auditlog.record(
        session,
        case=case,
        actor_name=actor.username,
        role=role_of(actor),
        action=action,
        at=now,
        data={"reference": line.reference, "month": line.month, "amount_fen": line.amount_fen, **data},
    )


def run_payments(
    session: Session,
    *,
    env: Env,
    month: str,
    actor: Actor,
    now: datetime,
    after_case_id: int = 0,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> PaymentRunResult:
    """A month's payment lines: every case active in it, once (a repeated run adds none).

    The first part of a run also puts the failed lines in scope back to pending, to be paid again.
    A long run goes in parts (cases after `after_case_id`, `limit` at a time), each its own unit of
    work: a run cut short keeps what it made, and the next run adds only what is missing.
    A month may be run in advance (payroll is prepared before the month starts), but no further
    ahead than the next: who is active later is not known yet."""
    start = month_start(month)
    today = local_date(now)
    latest = f"{today.year + today.month // 12:04d}-{today.month % 12 + 1:02d}"
    if start > month_start(latest):
        raise InvalidInput(
            f"只能发放本月或下月（{latest}）及以前的月份 / "
            f"a month can be run at most one month ahead (up to {latest}): {month}"
        )
    retried = _retry_failed(session, actor=actor, month=month, now=now) if after_case_id == 0 else 0
    query = payable_cases(month).where(col(Case.id) > after_case_id).order_by(col(Case.id))
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    if limit is not None:
        query = query.limit(limit)
    conn = session.connection()
    created = already = held = 0
    cases = session.exec(query).all()
    for case in cases:
        assert case.id is not None
        amount = payable_amount(env, case, month)
        if amount is None or (case.state == OBJECTION_REVIEW and not case.data.get("activated_at")):
            if progress is not None:
                progress(1)
            continue
        hold = None if case.data.get("bank_account_enc") else NO_ACCOUNT
        line_id = conn.execute(
            insert_or_skip(conn, LINES)
            .values(
                case_id=case.id,
                month=month,
                amount_fen=amount,
                status=PENDING,
                region_code=case.region_code,
                township_code=case.township_code,
                county_code=case.county_code,
                created_at=now,
                reference=line_reference(case.id, month),
                held_reason=hold,
                attempt=1,
            )
            .on_conflict_do_nothing(index_elements=["case_id", "month"])
            .returning(LINES.c.id)
        ).scalar()
        if line_id is not None:
            created += 1
            held += int(hold is not None)
            line = session.get(PaymentLine, line_id)
            assert line is not None
            _line_event(session, case=case, line=line, actor=actor, action="payment_line", now=now, held_reason=hold)
        else:
            already += 1
            held += _release_or_keep_held(session, case=case, month=month, actor=actor, now=now)
        if progress is not None:
            progress(1)
    done = limit is None or len(cases) < limit
    last = int(cases[-1].id or 0) if cases else after_case_id
    total_q = core_select(func.coalesce(func.sum(LINES.c.amount_fen), 0)).where(LINES.c.month == month)
    total = int(conn.execute(total_q).scalar_one())
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="payment_run",
        data={
            "month": month,
            "created": created,
            "already": already,
            "retried": retried,
            "held": held,
            "total_fen": total,
            "after_case_id": after_case_id,
            "last_case_id": last,
        },
    )
    session.flush()
    return PaymentRunResult(
        month=month,
        created=created,
        already=already,
        total_fen=total,
        retried=retried,
        held=held,
        last_case_id=last,
        done=done,
    )


def payable_cases(month: str) -> Any:
    """The cases a run for `month` looks at: those paid now, and those that left since it began."""
    start = month_start(month)
    return select(Case).where(
        Case.workflow == StandardSpec.key,
        or_(
            CASES.state.in_(sorted(review.PAID_STATES | {OBJECTION_REVIEW})),
            and_(CASES.state == review.EXITED, CASES.updated_at >= start),
        ),
    )


def count_payable(session: Session, *, month: str, actor: Actor) -> int:
    """How many cases a run will look at (the length of its progress bar)."""
    query = payable_cases(month)
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    return int(session.connection().execute(core_select(func.count()).select_from(query.subquery())).scalar_one())


def _release_or_keep_held(session: Session, *, case: Case, month: str, actor: Actor, now: datetime) -> int:
    """A held line is released once the case has an account; 1 when it stays held."""
    line = session.exec(select(PaymentLine).where(PaymentLine.case_id == case.id, PaymentLine.month == month)).first()
    if line is None or line.held_reason is None or line.status != PENDING:
        return 0
    if not case.data.get("bank_account_enc"):
        return 1
    released = session.connection().execute(
        update(LINES).where(LINES.c.id == line.id, LINES.c.held_reason.is_not(None)).values(held_reason=None)
    )
    if released.rowcount:
        session.refresh(line)
        _line_event(session, case=case, line=line, actor=actor, action="payment_line_released", now=now)
    return 0


def _retry_failed(session: Session, *, actor: Actor, month: str, now: datetime) -> int:
    """Failed lines of this month and earlier go back to pending, one attempt more."""
    query = select(PaymentLine, Case).join(Case, col(Case.id) == col(PaymentLine.case_id))
    query = query.where(PaymentLine.status == FAILED, col(PaymentLine.month) <= month)
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    conn = session.connection()
    retried = 0
    for line, case in session.exec(query.order_by(col(PaymentLine.id))).all():
        reason = line.failure_reason
        # Conditional on the status: of two runs at once, only one moves a line and records it.
        moved = conn.execute(
            update(LINES)
            .where(LINES.c.id == line.id, LINES.c.status == FAILED)
            .values(status=PENDING, attempt=LINES.c.attempt + 1, batch_id=None, exported_at=None)
        )
        if moved.rowcount:
            session.refresh(line)
            retried += 1
            _line_event(
                session,
                case=case,
                line=line,
                actor=actor,
                action="payment_line_retry",
                now=now,
                attempt=line.attempt,
                failure_reason=reason,
            )
    return retried


def mask_account(account: str | None) -> str | None:
    """An account as the lists show it: the last four digits only."""
    if not account:
        return None
    return "*" * max(len(account) - 4, 0) + account[-4:]


def _village_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.exec(select(Region).where(col(Region.code).in_(sorted(codes)))).all()
    return {r.code: r.name for r in rows}


def _account(env: Env, case: Case) -> str | None:
    enc = case.data.get("bank_account_enc")
    return env.cipher.decrypt(enc) if enc else None


def _applicant_name(case: Case) -> str:
    applicant = case.data.get("applicant") or {}
    return str(applicant.get("name") or "")


def payment_lines(
    session: Session, *, actor: Actor, month: str, env: Env | None = None, township: str | None = None
) -> list[PaymentLineOut]:
    """The month's lines in the actor's scope, with who is paid, where, and the account's last digits."""
    month_start(month)
    query = (
        select(PaymentLine, Case)
        .join(Case, col(Case.id) == col(PaymentLine.case_id))
        .where(PaymentLine.month == month, visible_clause(actor))
    )
    if township is not None:
        query = query.where(PaymentLine.township_code == township)
    rows = session.exec(query.order_by(col(PaymentLine.id))).all()
    villages = _village_names(session, {line.region_code for line, _ in rows})
    return [
        PaymentLineOut(
            application_id=line.case_id,
            month=line.month,
            amount_fen=line.amount_fen,
            status=line.status,
            reference=line.reference or line_reference(line.case_id, line.month),
            name=_applicant_name(case),
            village=line.region_code,
            village_name=villages.get(line.region_code, ""),
            account=mask_account(_account(env, case)) if env is not None else None,
            held_reason=line.held_reason,
            attempt=line.attempt,
            failure_reason=line.failure_reason,
            paid_by_hand=line.paid_by_hand,
            exported_at=line.exported_at,
            paid_at=line.paid_at,
            failed_at=line.failed_at,
        )
        for line, case in rows
    ]


def _require_finance(session: Session, actor: Actor, township: str) -> None:
    region = session.get(Region, township)
    if region is None or region.level != "township":
        raise NotFound(f"乡镇 {township} 不存在 / township {township} not found")
    if actor.is_system:
        return
    if not any(g.role in FINANCE_ROLES and covers(g.region_code, township) for g in actor.grants):
        raise RoleNotPermitted(
            "只有乡镇、县级民政干部可以导出和对账 / only township and county officers export and reconcile payments"
        )


def export_bank_file(
    session: Session, *, env: Env, actor: Actor, month: str, township: str, fmt: str, now: datetime
) -> BankFileOut:
    """The bank file of a township's month: the pending lines not held become a batch and are exported.

    With nothing pending, the latest batch is written again: the same lines, the same bytes."""
    month_start(month)
    if fmt not in bankfile.FORMATS:
        raise InvalidInput(f"格式须为 csv 或 xlsx / the format must be csv or xlsx: {fmt!r}")
    _require_finance(session, actor, township)
    conn = session.connection()
    # Two exports of one township at once: the second waits here and then finds the lines exported.
    regions = Region.__table__.c  # type: ignore[attr-defined]
    conn.execute(core_select(regions.code).where(regions.code == township).with_for_update())
    pending = session.exec(
        select(PaymentLine)
        .where(
            PaymentLine.township_code == township,
            PaymentLine.month == month,
            PaymentLine.status == PENDING,
            col(PaymentLine.held_reason).is_(None),
        )
        .order_by(col(PaymentLine.id))
    ).all()
    batch: PaymentBatch | None
    fresh = bool(pending)
    if fresh:
        batches = PaymentBatch.__table__.c  # type: ignore[attr-defined]
        seq = conn.execute(
            core_select(func.coalesce(func.max(batches.seq), 0)).where(
                batches.township_code == township, batches.month == month
            )
        ).scalar_one()
        batch = PaymentBatch(
            township_code=township,
            month=month,
            seq=int(seq) + 1,
            line_count=len(pending),
            total_fen=sum(p.amount_fen for p in pending),
            actor=actor.username,
            created_at=now,
        )
        session.add(batch)
        session.flush()
        cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_([p.case_id for p in pending])))}
        for line in pending:
            moved = conn.execute(
                update(LINES)
                .where(LINES.c.id == line.id, LINES.c.status == PENDING, LINES.c.held_reason.is_(None))
                .values(status=EXPORTED, exported_at=now, batch_id=batch.id)
            )
            if moved.rowcount != 1:
                raise Conflict("另一次导出正在进行，请稍后重试 / another export of these lines is under way; try again")
            session.refresh(line)
            _line_event(
                session,
                case=cases[line.case_id],
                line=line,
                actor=actor,
                action="payment_line_exported",
                now=now,
                batch=batch.seq,
            )
    else:
        batch = session.exec(
            select(PaymentBatch)
            .where(PaymentBatch.township_code == township, PaymentBatch.month == month)
            .order_by(col(PaymentBatch.seq).desc())
        ).first()
    rows: list[bankfile.BankRow] = []
    if batch is not None:
        lines = session.exec(
            select(PaymentLine, Case)
            .join(Case, col(Case.id) == col(PaymentLine.case_id))
            .where(PaymentLine.batch_id == batch.id)
            .order_by(col(PaymentLine.id))
        ).all()
        rows = [
            bankfile.BankRow(
                reference=line.reference or line_reference(line.case_id, month),
                account=_account(env, case) or "",
                name=_applicant_name(case),
                amount_fen=line.amount_fen,
            )
            for line, case in lines
        ]
    made_at = batch.created_at if batch is not None else month_start(month)
    content = (
        bankfile.write_csv(rows)
        if fmt == "csv"
        else bankfile.write_xlsx(rows, township=township, month=month, made_at=made_at)
    )
    digest = bankfile.sha256(content)
    if batch is not None:
        column = "sha256_csv" if fmt == "csv" else "sha256_xlsx"
        if getattr(batch, column) is None:
            setattr(batch, column, digest)
            session.add(batch)
    count, total = len(rows), sum(r.amount_fen for r in rows)
    # Every export reads the full accounts, so every one is recorded, a repeated one too.
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="payment_export",
        region_code=township,
        data={
            "month": month,
            "format": fmt,
            "batch": batch.seq if batch is not None else None,
            "count": count,
            "total_fen": total,
            "sha256": digest,
            "repeat": not fresh,
        },
    )
    session.flush()
    seq_part = f"-{batch.seq}" if batch is not None else ""
    return BankFileOut(
        township=township,
        month=month,
        format=fmt,
        batch=batch.seq if batch is not None else None,
        count=count,
        total_fen=total,
        sha256=digest,
        filename=f"payments-{township}-{month}{seq_part}.{fmt}",
        content=content,
    )


def reconcile(
    session: Session, *, actor: Actor, content: bytes, now: datetime, township: str | None = None
) -> ReconcileResult:
    """The bank's result file marks exported lines paid or failed; importing it again changes nothing.

    References that match no line in the actor's scope (or the given township) are reported, not guessed."""
    if township is not None:
        _require_finance(session, actor, township)
    elif not actor.is_system and not any(g.role in FINANCE_ROLES for g in actor.grants):
        raise RoleNotPermitted(
            "只有乡镇、县级民政干部可以导出和对账 / only township and county officers export and reconcile payments"
        )
    rows = bankfile.read_result(content)
    paid = failed = unchanged = 0
    unknown: list[str] = []
    not_exported: list[str] = []
    conflicting: list[str] = []
    invalid: list[str] = []
    conn = session.connection()
    for row in rows:
        if row.status not in (PAID, FAILED) or not row.reference or len(row.reference) > 40:
            invalid.append(f"{row.line}: {row.reference[:40]} {row.status[:20]}".strip())
            continue
        found = session.exec(
            select(PaymentLine, Case)
            .join(Case, col(Case.id) == col(PaymentLine.case_id))
            .where(PaymentLine.reference == row.reference)
        ).first()
        if found is None or not _finance_covers(actor, found[0].township_code, township):
            unknown.append(row.reference)
            continue
        line, case = found
        if line.status == row.status and (row.status == PAID or (line.failure_reason or "") == row.reason[:200]):
            unchanged += 1
            continue
        if line.status != EXPORTED:
            (not_exported if line.status == PENDING else conflicting).append(row.reference)
            continue
        values: dict[str, Any] = (
            {"status": PAID, "paid_at": now}
            if row.status == PAID
            else {"status": FAILED, "failed_at": now, "failure_reason": row.reason[:200] or "未说明 / no reason given"}
        )
        moved = conn.execute(update(LINES).where(LINES.c.id == line.id, LINES.c.status == EXPORTED).values(**values))
        if not moved.rowcount:
            conflicting.append(row.reference)
            continue
        session.refresh(line)
        action = "payment_line_paid" if row.status == PAID else "payment_line_failed"
        extra = {} if row.status == PAID else {"failure_reason": line.failure_reason}
        _line_event(session, case=case, line=line, actor=actor, action=action, now=now, **extra)
        paid += int(row.status == PAID)
        failed += int(row.status == FAILED)
    digest = bankfile.sha256(content)
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="payment_reconcile",
        region_code=township or "",
        data={
            "sha256": digest,
            "rows": len(rows),
            "paid": paid,
            "failed": failed,
            "unchanged": unchanged,
            "unknown": len(unknown),
            "not_exported": len(not_exported),
            "conflicting": len(conflicting),
            "invalid": len(invalid),
        },
    )
    session.flush()
    return ReconcileResult(
        sha256=digest,
        rows=len(rows),
        paid=paid,
        failed=failed,
        unchanged=unchanged,
        unknown=unknown,
        not_exported=not_exported,
        conflicting=conflicting,
        invalid=invalid,
    )


def _finance_covers(actor: Actor, line_township: str, township: str | None) -> bool:
    if township is not None and line_township != township:
        return False
    return actor.is_system or any(
        g.role in FINANCE_ROLES and covers(g.region_code, line_township) for g in actor.grants
    )


def pay_by_hand(session: Session, *, actor: Actor, reference: str, reason: str, now: datetime) -> PaymentLineOut:
    """A failed or held line paid outside the bank file (cash, a counter transfer), with the recorded reason."""
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise InvalidInput(
            "须写明手工发放的原因（200 字以内）/ give the reason for paying by hand (200 characters at most)"
        )
    found = session.exec(
        select(PaymentLine, Case)
        .join(Case, col(Case.id) == col(PaymentLine.case_id))
        .where(PaymentLine.reference == reference)
    ).first()
    if found is None or not _finance_covers(actor, found[0].township_code, None):
        raise NotFound(f"发放明细 {reference} 不存在 / no payment line {reference}")
    line, case = found
    if line.status not in (FAILED, PENDING):
        raise Conflict(
            f"发放明细 {reference} 状态为 {line.status}，只有失败或未导出的可手工发放 / "
            f"line {reference} is {line.status}: only failed or unexported lines may be paid by hand"
        )
    moved = session.connection().execute(
        update(LINES)
        .where(LINES.c.id == line.id, LINES.c.status == line.status)
        .values(status=PAID, paid_at=now, paid_by_hand=reason, held_reason=None)
    )
    if not moved.rowcount:
        raise Conflict(f"发放明细 {reference} 刚被修改，请刷新 / line {reference} just changed; reload it")
    session.refresh(line)
    _line_event(session, case=case, line=line, actor=actor, action="payment_line_paid_by_hand", now=now, reason=reason)
    session.flush()
    return PaymentLineOut(
        application_id=line.case_id,
        month=line.month,
        amount_fen=line.amount_fen,
        status=line.status,
        reference=reference,
        name=_applicant_name(case),
        village=line.region_code,
        village_name=_village_names(session, {line.region_code}).get(line.region_code, ""),
        account=None,
        held_reason=line.held_reason,
        attempt=line.attempt,
        failure_reason=line.failure_reason,
        paid_by_hand=line.paid_by_hand,
        exported_at=line.exported_at,
        paid_at=line.paid_at,
        failed_at=line.failed_at,
    )
