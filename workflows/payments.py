"""Monthly payment runs and their lines."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import and_, func, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import Actor
from engine.calendar import SHANGHAI, add_months, local_date
from engine.errors import (
    InvalidInput,
)
from engine.queue import visible_clause
from engine.tables import Case
from workflows import review
from workflows.base import CASES, LINES, insert_or_skip, local_midnight, role_of
from workflows.common import OBJECTION_REVIEW
from workflows.models import (
    PaymentLine,
)
from workflows.spec import StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env


class PaymentRunResult(BaseModel):
    month: str
    created: int
    already: int
    total_fen: int


class PaymentLineOut(BaseModel):
    application_id: int
    month: str
    amount_fen: int
    status: str


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


def run_payments(session: Session, *, env: Env, month: str, actor: Actor, now: datetime) -> PaymentRunResult:
    """A month's payment lines: every case active in it, once (a repeated run adds none).

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
    query = select(Case).where(
        Case.workflow == StandardSpec.key,
        or_(
            CASES.state.in_(sorted(review.PAID_STATES | {OBJECTION_REVIEW})),
            and_(CASES.state == review.EXITED, CASES.updated_at >= start),
        ),
    )
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    conn = session.connection()
    created = already = 0
    for case in session.exec(query).all():
        amount = payable_amount(env, case, month)
        if amount is None or (case.state == OBJECTION_REVIEW and not case.data.get("activated_at")):
            continue
        inserted = (
            conn.execute(
                insert_or_skip(conn, LINES)
                .values(
                    case_id=case.id,
                    month=month,
                    amount_fen=amount,
                    status="pending",
                    region_code=case.region_code,
                    township_code=case.township_code,
                    county_code=case.county_code,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["case_id", "month"])
                .returning(LINES.c.id)
            ).first()
            is not None
        )
        created += int(inserted)
        already += int(not inserted)
    total_q = core_select(func.coalesce(func.sum(LINES.c.amount_fen), 0)).where(LINES.c.month == month)
    total = int(conn.execute(total_q).scalar_one())
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="payment_run",
        data={"month": month, "created": created, "already": already, "total_fen": total},
    )
    return PaymentRunResult(month=month, created=created, already=already, total_fen=total)


def payment_lines(session: Session, *, actor: Actor, month: str) -> list[PaymentLineOut]:
    """The month's lines in the actor's scope."""
    month_start(month)
    rows = session.exec(
        select(PaymentLine)
        .join(Case, col(Case.id) == col(PaymentLine.case_id))
        .where(PaymentLine.month == month, visible_clause(actor))
        .order_by(col(PaymentLine.id))
    ).all()
    return [
        PaymentLineOut(application_id=p.case_id, month=p.month, amount_fen=p.amount_fen, status=p.status) for p in rows
    ]
