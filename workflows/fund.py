"""The reserve fund (备用金): balances, deposits and the debit of each emergency grant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import Connection, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import Actor, Role, covers
from engine.calendar import add_months, local_date
from engine.errors import (
    InvalidInput,
    NotFound,
    RoleNotPermitted,
)
from engine.runtime import TransitionRecord
from engine.tables import Case, Region, RoleGrant, User
from workflows import emergency
from workflows.bankfile import yuan
from workflows.base import FUNDS, household_hashes, insert_or_skip, month_start, role_of
from workflows.fields import FEN_LIMIT
from workflows.models import (
    EmergencyGrant,
    Fund,
    FundEntry,
)

if TYPE_CHECKING:
    from workflows.env import Env


def fund_account(case: Case) -> str:
    return case.county_code if case.state == emergency.COUNTY_APPROVAL else case.township_code


def lock_fund(conn: Connection, account: str, now: datetime) -> int:
    conn.execute(
        insert_or_skip(conn, FUNDS)
        .values(account_code=account, balance_fen=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["account_code"])
    )
    balance = conn.execute(
        core_select(FUNDS.c.balance_fen).where(FUNDS.c.account_code == account).with_for_update()
    ).scalar_one()
    return int(balance)


CREDITS = ("deposit", "refund", "recovery")
KINDS = (*CREDITS, "grant")
METHODS = ("cash", "card", "bank_transfer")
TOP_UP_ROLES = (Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN)


class FundEntryOut(BaseModel):
    at: datetime
    kind: str
    amount_fen: int
    balance_after_fen: int
    application_id: int | None
    actor: str
    note: str | None
    method: str | None


class FundOut(BaseModel):
    region: str
    name: str
    balance_fen: int
    entries: list[FundEntryOut]


class FundStatement(BaseModel):
    region: str
    month: str
    opening_fen: int
    deposits_fen: int
    grants_fen: int
    refunds_fen: int
    recoveries_fen: int
    closing_fen: int
    entries: list[FundEntryOut]


def who_can_top_up(session: Session, account: str) -> list[str]:
    """The officials who may pay into `account`: its township or county officers and the administrators."""
    rows = session.exec(
        select(User.username, RoleGrant.region_code)
        .join(RoleGrant, col(RoleGrant.user_id) == col(User.id))
        .where(col(RoleGrant.role).in_([str(r) for r in TOP_UP_ROLES]))
        .order_by(col(User.username))
    ).all()
    return sorted({name for name, region in rows if covers(region, account)})


def move_fund(
    session: Session,
    *,
    account: str,
    kind: str,
    amount_fen: int,
    actor: Actor,
    now: datetime,
    case_id: int | None = None,
    note: str | None = None,
    payee: str | None = None,
    method: str | None = None,
) -> int:
    """One ledger entry and its audit entry, under the fund's row lock; the balance never goes below zero."""
    if kind not in KINDS:
        raise InvalidInput(f"未知的备用金科目 / unknown fund entry kind: {kind!r}")
    conn = session.connection()
    balance = lock_fund(conn, account, now)
    after = balance + amount_fen if kind in CREDITS else balance - amount_fen
    if after < 0:
        names = who_can_top_up(session, account)
        who = "、".join(names) if names else "乡镇或县级民政干部"
        who_en = ", ".join(names) if names else "a township or county officer"
        raise InvalidInput(
            f"备用金余额不足：{account} 余额 {yuan(balance)} 元，需 {yuan(amount_fen)} 元；可由 {who} 补充备用金"
            f"（aidflow fund deposit {account} --amount-fen N）/ the reserve fund {account} is short: "
            f"{balance} fen left, {amount_fen} fen needed; {who_en} can top it up"
        )
    conn.execute(update(FUNDS).where(FUNDS.c.account_code == account).values(balance_fen=after, updated_at=now))
    session.add(
        FundEntry(
            account_code=account,
            kind=kind,
            amount_fen=amount_fen,
            balance_after_fen=after,
            case_id=case_id,
            actor=actor.username,
            at=now,
            note=note,
            payee=payee,
            method=method,
        )
    )
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action=f"fund_{kind}",
        region_code=account,
        case_id=case_id,
        data={
            "amount_fen": amount_fen,
            "balance_fen": after,
            **({"note": note} if note else {}),
            **({"method": method} if method else {}),
        },
    )
    session.flush()
    return after


def _check_amount(amount_fen: int) -> None:
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or not 0 < amount_fen < FEN_LIMIT:
        raise InvalidInput(
            f"存入金额须为小于 {FEN_LIMIT} 的正整数（分）/ amount_fen must be a positive whole number of fen "
            f"below {FEN_LIMIT}"
        )


def _fund_region(session: Session, code: str) -> Region:
    region = session.get(Region, code)
    if region is None or region.level not in ("township", "county"):
        raise NotFound(f"乡镇 {code} 不存在 / township {code} not found")
    return region


def deposit_fund(
    session: Session,
    *,
    env: Env,
    township_code: str,
    amount_fen: int,
    actor: Actor,
    now: datetime,
    kind: str = "deposit",
    note: str | None = None,
    case_id: int | None = None,
) -> int:
    """Pay into a reserve fund (a township's, or a county's for the grants it decides); the new balance.

    A refund (a grant handed back) or a recovery (a grant reclaimed) is paid in the same way."""
    _check_amount(amount_fen)
    if kind not in CREDITS:
        raise InvalidInput(f"只能存入、退回或追回 / only a deposit, refund or recovery pays in: {kind!r}")
    _fund_region(session, township_code)
    if not actor.is_system and not any(
        g.role in TOP_UP_ROLES and covers(g.region_code, township_code) for g in actor.grants
    ):
        raise RoleNotPermitted("您无权向该备用金存入 / you may not pay into this fund")
    return move_fund(
        session,
        account=township_code,
        kind=kind,
        amount_fen=amount_fen,
        actor=actor,
        now=now,
        note=note,
        case_id=case_id,
    )


def _require_reader(actor: Actor, region: str) -> None:
    readers = (*TOP_UP_ROLES, Role.INSPECTOR)
    if actor.is_system:
        return
    if not any(g.role in readers and covers(g.region_code, region) for g in actor.grants):
        raise NotFound(f"备用金 {region} 不在您的范围内 / no fund {region} in your scope")


def _entries_out(rows: Sequence[FundEntry]) -> list[FundEntryOut]:
    return [
        FundEntryOut(
            at=e.at,
            kind=e.kind,
            amount_fen=e.amount_fen,
            balance_after_fen=e.balance_after_fen,
            application_id=e.case_id,
            actor=e.actor,
            note=e.note,
            method=e.method,
        )
        for e in rows
    ]


def fund_ledger(session: Session, *, actor: Actor, region: str, limit: int = 500) -> FundOut:
    """A fund's balance and its latest entries, newest first, for officials and inspectors in scope."""
    found = _fund_region(session, region)
    _require_reader(actor, region)
    rows = session.exec(
        select(FundEntry).where(FundEntry.account_code == region).order_by(col(FundEntry.id).desc()).limit(limit)
    ).all()
    return FundOut(
        region=region, name=found.name, balance_fen=fund_balance(session, region), entries=_entries_out(rows)
    )


def fund_statement(session: Session, *, actor: Actor, region: str, month: str) -> FundStatement:
    """A month's statement of a fund: the opening balance, each kind's sum, the closing balance."""
    _fund_region(session, region)
    _require_reader(actor, region)
    start = month_start(month)
    end = add_months(start, 1)
    before = session.exec(
        select(FundEntry)
        .where(FundEntry.account_code == region, col(FundEntry.at) < start)
        .order_by(col(FundEntry.id).desc())
    ).first()
    rows = session.exec(
        select(FundEntry)
        .where(FundEntry.account_code == region, col(FundEntry.at) >= start, col(FundEntry.at) < end)
        .order_by(col(FundEntry.id))
    ).all()
    opening = before.balance_after_fen if before is not None else 0

    def total(kind: str) -> int:
        return sum(e.amount_fen for e in rows if e.kind == kind)

    return FundStatement(
        region=region,
        month=month,
        opening_fen=opening,
        deposits_fen=total("deposit"),
        grants_fen=total("grant"),
        refunds_fen=total("refund"),
        recoveries_fen=total("recovery"),
        closing_fen=rows[-1].balance_after_fen if rows else opening,
        entries=_entries_out(rows),
    )


def fund_balance(session: Session, township_code: str) -> int:
    fund = session.get(Fund, township_code)
    return int(fund.balance_fen) if fund is not None else 0


def debit_grant(session: Session, env: Env, case: Case, record: TransitionRecord, now: datetime) -> None:
    """An emergency grant is paid at once from the granting level's fund, and kept per person (K7)."""
    if record.action != "grant_emergency":
        return
    amount = int(record.data["amount_fen"])
    account = case.county_code if record.role == Role.COUNTY_OFFICER else case.township_code
    actor = Actor(username=record.actor, user_id=record.actor_user_id)
    payee = str(record.data.get("payee") or (case.data.get("applicant") or {}).get("name") or "")
    method = record.data.get("method") or ("bank_transfer" if case.data.get("bank_account_enc") else "cash")
    move_fund(
        session,
        account=account,
        kind="grant",
        amount_fen=amount,
        actor=actor,
        now=now,
        case_id=case.id,
        payee=payee[:100],
        method=str(method),
    )
    assert case.id is not None
    # One row per member: the rule is once per person per cause per year (K7), whoever applies next.
    for person in household_hashes(case):
        session.add(
            EmergencyGrant(
                case_id=case.id,
                person_hash=person,
                cause=str(case.data.get("cause") or ""),
                year=local_date(now).year,
                amount_fen=amount,
                account_code=account,
                county_override=record.data.get("county_override") is True,
                granted_by=record.actor,
                granted_at=now,
            )
        )
    session.flush()
