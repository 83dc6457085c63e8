"""The bank's side of payments: the bank file exported, the bank's results reconciled, payment by hand."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import func, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import Actor, covers
from engine.errors import Conflict, InvalidInput, NotFound, RoleNotPermitted
from engine.tables import Case, Region
from workflows import bankfile
from workflows.base import AUDIT, LINES, role_of
from workflows.models import PaymentBatch, PaymentLine
from workflows.payments import (
    EXPORTED,
    FAILED,
    FINANCE_ROLES,
    PAID,
    PENDING,
    PaymentLineOut,
    account_of,
    applicant_name,
    line_event,
    line_reference,
    month_start,
    village_names,
)

if TYPE_CHECKING:
    from workflows.env import Env


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
    stale: list[str] = []  # rows of a file already applied to a line that has moved on since (a retry)


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
            line_event(
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
                account=account_of(env, case) or "",
                name=applicant_name(case),
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
    digest = bankfile.sha256(content)
    paid = failed = unchanged = 0
    stale: list[str] = []
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
        if _applied_before(session, line, digest):
            # The same file was read when the line was on an earlier attempt: its result is history,
            # and must not undo what the retry's own result says.
            stale.append(row.reference)
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
        extra: dict[str, Any] = {"result_sha256": digest, "attempt": line.attempt}
        if row.status == FAILED:
            extra["failure_reason"] = line.failure_reason
        line_event(session, case=case, line=line, actor=actor, action=action, now=now, **extra)
        paid += int(row.status == PAID)
        failed += int(row.status == FAILED)
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
            "stale": len(stale),
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
        stale=stale,
    )


def _applied_before(session: Session, line: PaymentLine, digest: str) -> bool:
    """Whether a result file with these bytes already marked this line (on this or an earlier attempt)."""
    entries = session.connection().execute(
        core_select(AUDIT.data).where(
            AUDIT.case_id == line.case_id,
            AUDIT.action.in_(("payment_line_paid", "payment_line_failed")),
        )
    )
    for (raw,) in entries:
        data = json.loads(raw) if isinstance(raw, str) else raw
        if data.get("reference") == line.reference and data.get("result_sha256") == digest:
            return True
    return False


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
    line_event(session, case=case, line=line, actor=actor, action="payment_line_paid_by_hand", now=now, reason=reason)
    session.flush()
    return PaymentLineOut(
        application_id=line.case_id,
        month=line.month,
        amount_fen=line.amount_fen,
        status=line.status,
        reference=reference,
        name=applicant_name(case),
        village=line.region_code,
        village_name=village_names(session, {line.region_code}).get(line.region_code, ""),
        account=None,
        held_reason=line.held_reason,
        attempt=line.attempt,
        failure_reason=line.failure_reason,
        paid_by_hand=line.paid_by_hand,
        exported_at=line.exported_at,
        paid_at=line.paid_at,
        failed_at=line.failed_at,
    )
