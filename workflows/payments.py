"""Monthly payment runs and their lines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import SYSTEM, Actor, Role
from engine.calendar import SHANGHAI, add_months, local_date
from engine.errors import InvalidInput, StaleVersion, TransitionNotAllowed
from engine.queue import visible_clause
from engine.tables import Case, Region
from workflows import review
from workflows.base import CASES, LINES, local_midnight, role_of
from workflows.base import month_start as month_start  # kept importable from here
from workflows.common import OBJECTION_REVIEW
from workflows.firing import decide, fire_act
from workflows.models import PaymentLine
from workflows.paylines import Payee, cached_rules, case_entry, insert_lines, read_payees
from workflows.policy import VOLUNTARY_EXIT_MONTHS_MAX, Rules
from workflows.spec import StandardSpec, TemporarySpec
from workflows.temporary import GRANTED as TEMPORARY_GRANTED

if TYPE_CHECKING:
    from workflows.env import Env


class PaymentRunResult(BaseModel):
    month: str
    created: int
    already: int
    total_fen: int
    retried: int = 0
    held: int = 0
    ended_unclaimed: int = 0
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


def month_of(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def payable_amount(
    env: Env, case: Case | Payee, month: str, rules: dict[tuple[str, date], Rules] | None = None
) -> int | None:
    """The amount due to a case for `month`, or None: from the month after activation (P10) to its exit;
    for granted temporary aid, the instalment of that month (K6). Its file's keys read here are
    paylines.PAY_KEYS (all that a run reads of it)."""
    if case.workflow == TemporarySpec.key:
        return next((int(i["amount_fen"]) for i in case.data.get("instalments") or [] if i.get("month") == month), None)
    activated = case.data.get("activated_at")
    amount = case.data.get("monthly_amount_fen")
    if not activated or not isinstance(amount, int):
        return None
    at = datetime.fromisoformat(activated)
    start = month_of(
        add_months(
            local_midnight(local_date(at).replace(day=1)),
            cached_rules(env, case.region_code, at, rules).payment_start_months,
        )
    )
    if month < start or (case.data.get("termination") or {}).get("ground") == review.UNCLAIMED:
        return None  # D3: support ended for unclaimed payments makes no further line
    exited = case.data.get("exited")
    if exited and month > last_paid_month(env, case.region_code, exited):
        return None
    return amount


def last_paid_month(env: Env, region_code: str, exited: Mapping[str, Any]) -> str:
    """The last month an exited case is paid: the month it left, or after a voluntary exit the policy's
    months more (E7)."""
    left = datetime.fromisoformat(str(exited["at"]))
    if exited.get("how") != "voluntary" and exited.get("ground") != "voluntary":
        return month_of(left)
    extra = env.rules(region_code, left).voluntary_exit_months
    return month_of(add_months(local_midnight(local_date(left).replace(day=1)), extra))


NO_ACCOUNT = "无银行账户，补录后发放 / no bank account on file: paid once one is recorded"
PENDING, EXPORTED, PAID, FAILED = "pending", "exported", "paid", "failed"
FINANCE_ROLES = (Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN)


def line_reference(case_id: int, month: str) -> str:
    """A line's reference: the same for the same case and month, whichever run made it."""
    return f"PAY{month.replace('-', '')}-{case_id:08d}"


def line_event(
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
    # how far ahead: the policy where the actor works (the county's run), or everywhere's for the system
    ahead = env.rules(actor.grants[0].region_code if actor.grants else "", now).payment_run_months_ahead
    index = today.year * 12 + today.month - 1 + ahead
    latest = f"{index // 12:04d}-{index % 12 + 1:02d}"
    if start > month_start(latest):
        raise InvalidInput(
            f"最多只能提前 {ahead} 个月发放（{latest} 及以前的月份）/ "
            f"a month can be run at most {ahead} month(s) ahead (up to {latest}): {month}"
        )
    ended = 0
    if after_case_id == 0:
        ended = end_unclaimed(session, env=env, actor=actor, month=month, now=now)
    retried = _retry_failed(session, actor=actor, month=month, now=now) if after_case_id == 0 else 0
    conn = session.connection()
    # The part's cases, by id only: their data is read below for those that may need a line.
    query = core_select(CASES.id).where(payable_clause(month), CASES.id > after_case_id).order_by(CASES.id)
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    if limit is not None:
        query = query.limit(limit)
    ids = list(conn.execute(query).scalars())
    # The month's lines of these cases, read once: a case with a line gets none (a rerun inserts
    # nothing to skip it); only a held line may have work left (its release).
    lines: dict[int, tuple[str | None, str]] = {}
    if ids:
        existing = core_select(LINES.c.case_id, LINES.c.held_reason, LINES.c.status).where(
            LINES.c.month == month, LINES.c.case_id > after_case_id, LINES.c.case_id <= ids[-1]
        )
        lines = {int(r[0]): (r[1], r[2]) for r in conn.execute(existing)}
    wanted = [i for i in ids if i not in lines or (lines[i][0] is not None and lines[i][1] == PENDING)]
    created = held = 0
    already = len(ids) - len(wanted)
    made: list[tuple[Payee, dict[str, Any]]] = []
    rules: dict[tuple[str, date], Rules] = {}  # the policy in force, read once per region and day
    # Of each case only what its line needs, extracted from its file in SQL (paylines.PAY_KEYS);
    # what the session holds pending goes first, as autoflush would send it before an ORM read.
    session.flush()
    for case in read_payees(conn, wanted):
        amount = payable_amount(env, case, month, rules)
        if amount is None or (case.state == OBJECTION_REVIEW and not case.data.get("activated_at")):
            continue  # a held line of a case no longer paid stays held
        if case.id in lines:
            already += 1
            held += _release_or_keep_held(session, case=case, month=month, actor=actor, now=now)
            continue
        hold = None if case.data.get("bank_account_enc") else NO_ACCOUNT
        made.append((case, _line_row(case, month, amount, hold, now)))
    inserted = insert_lines(conn, [row for _, row in made])
    events = []
    for case, row in made:
        if case.id not in inserted:  # another run made it first
            already += 1
            held += _release_or_keep_held(session, case=case, month=month, actor=actor, now=now)
            continue
        created += 1
        held += int(row["held_reason"] is not None)
        data = {"reference": row["reference"], "month": month, "amount_fen": row["amount_fen"]}
        events.append(case_entry(case, actor, "payment_line", now, {**data, "held_reason": row["held_reason"]}))
    auditlog.append_many(session, events)  # each line's record, in the same unit of work as the line
    if progress is not None and ids:
        progress(len(ids))
    done = limit is None or len(ids) < limit
    last = ids[-1] if ids else after_case_id
    # Under the chain head's lock: the total is then the lines recorded before this run's entry, no
    # more (a concurrent run that committed since would be counted but recorded after) and no fewer.
    auditlog.lock_head(conn)
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
            "ended_unclaimed": ended,
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
        ended_unclaimed=ended,
        last_case_id=last,
        done=done,
    )


def _line_row(case: Payee, month: str, amount: int, hold: str | None, now: datetime) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "month": month,
        "amount_fen": amount,
        "status": PENDING,
        "region_code": case.region_code,
        "township_code": case.township_code,
        "county_code": case.county_code,
        "created_at": now,
        "reference": line_reference(case.id, month),
        "held_reason": hold,
        "attempt": 1,
    }


def payable_cases(month: str) -> Any:
    """The cases a run for `month` looks at: those paid now, and those that left since it began."""
    return select(Case).where(payable_clause(month))


def payable_clause(month: str) -> Any:
    """The condition of `payable_cases`."""
    start = month_start(month)
    # E7: a case that left voluntarily is paid some months more (at most the policy's bound).
    left_since = add_months(start, -VOLUNTARY_EXIT_MONTHS_MAX)
    standard = and_(
        CASES.workflow == StandardSpec.key,
        or_(
            CASES.state.in_(sorted(review.PAID_STATES | {OBJECTION_REVIEW})),
            and_(CASES.state == review.EXITED, CASES.updated_at >= left_since),
        ),
    )
    # granted temporary aid: its instalments are at most the policy's months after the decision
    temporary = and_(CASES.workflow == TemporarySpec.key, CASES.state == TEMPORARY_GRANTED)
    return or_(standard, temporary)


def count_payable(session: Session, *, month: str, actor: Actor) -> int:
    """How many cases a run will look at (the length of its progress bar)."""
    query = payable_cases(month)
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    return int(session.connection().execute(core_select(func.count()).select_from(query.subquery())).scalar_one())


def _previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - (number == 1):04d}-{(number - 2) % 12 + 1:02d}"


def end_unclaimed(session: Session, *, env: Env, actor: Actor, month: str, now: datetime) -> int:
    """D3: a case whose latest months before `month` all went unclaimed (each line failed at the bank
    and none paid since), as many in a row as the policy says, has its support ended by the system.

    A line counts as unclaimed when it is failed, or retried (pending or exported again) and not paid."""
    lengths = [r.unclaimed_cancel_months for r in env.policy.all_rules() if r.unclaimed_cancel_months]
    if not lengths:
        return 0
    unclaimed = and_(LINES.c.status != PAID, or_(LINES.c.status == FAILED, LINES.c.attempt > 1), LINES.c.month < month)
    candidates = (
        core_select(LINES.c.case_id).where(unclaimed).group_by(LINES.c.case_id).having(func.count() >= min(lengths))
    )
    query = select(Case).where(
        col(Case.id).in_(candidates),
        CASES.state.in_([review.ACTIVE, review.UNDER_REVIEW, review.GRACE_PERIOD]),
    )
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    ended = 0
    for case in session.exec(query.order_by(col(Case.id))).all():
        needed = env.rules(case.region_code, now).unclaimed_cancel_months
        lines = session.exec(
            select(PaymentLine).where(PaymentLine.case_id == case.id, col(PaymentLine.month) < month)
        ).all()
        if not needed or not lines:
            continue
        by_month = {line.month: line for line in lines}
        window = [max(by_month)]
        while len(window) < needed:
            window.append(_previous_month(window[-1]))
        if not all(
            (m in by_month and by_month[m].status != PAID and (by_month[m].status == FAILED or by_month[m].attempt > 1))
            for m in window
        ):
            continue
        months = sorted(window)
        try:
            decision = decide(env, case, SYSTEM, "end_unclaimed")
            fire_act(
                session,
                env=env,
                case=case,
                decision=decision,
                data={
                    "ground": review.UNCLAIMED,
                    "months": months,
                    "reason": f"连续 {needed} 个月（{months[0]} 至 {months[-1]}）发放失败且未领取 / "
                    f"unclaimed for {needed} months in a row ({months[0]} to {months[-1]}): the bank could not pay",
                },
                version=case.version,
                now=now,
            )
        except (StaleVersion, TransitionNotAllowed):
            continue  # another run (or an official) moved the case first: nothing is written for it here
        ended += 1
    return ended


def _release_or_keep_held(session: Session, *, case: Payee, month: str, actor: Actor, now: datetime) -> int:
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
        whole = session.get(Case, case.id)  # the record names the case as it is
        assert whole is not None
        line_event(session, case=whole, line=line, actor=actor, action="payment_line_released", now=now)
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
        if (case.data.get("termination") or {}).get("ground") == review.UNCLAIMED:
            continue  # D3: support ended for it; paid by hand if the household comes forward
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
            line_event(
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


def village_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.exec(select(Region).where(col(Region.code).in_(sorted(codes)))).all()
    return {r.code: r.name for r in rows}


def account_of(env: Env, case: Case) -> str | None:
    enc = case.data.get("bank_account_enc")
    return env.cipher.decrypt(enc) if enc else None


def applicant_name(case: Case) -> str:
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
    villages = village_names(session, {line.region_code for line, _ in rows})
    return [
        PaymentLineOut(
            application_id=line.case_id,
            month=line.month,
            amount_fen=line.amount_fen,
            status=line.status,
            reference=line.reference or line_reference(line.case_id, line.month),
            name=applicant_name(case),
            village=line.region_code,
            village_name=villages.get(line.region_code, ""),
            account=mask_account(account_of(env, case)) if env is not None else None,
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


def read_payment_lines(
    session: Session,
    *,
    actor: Actor,
    month: str,
    env: Env,
    now: datetime,
    township: str | None = None,
    where: str = "api",
) -> list[PaymentLineOut]:
    """The month's lines as an official reads them (names, villages, masked accounts: personal data),
    the reading recorded on the trail in the same unit of work."""
    lines = payment_lines(session, actor=actor, month=month, env=env, township=township)
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="payments_read",
        region_code=township or "",
        data={
            "month": month,
            "township": township,
            "where": where,
            "count": len(lines),
            "application_ids": sorted({line.application_id for line in lines}),
        },
    )
    session.flush()
    return lines
