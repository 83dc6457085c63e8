"""The reserve fund (备用金): balances, deposits and the debit of each emergency grant."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, update
from sqlalchemy import select as core_select
from sqlmodel import Session

from engine import auditlog
from engine.access import Actor, Role, covers
from engine.calendar import local_date
from engine.errors import (
    InvalidInput,
    NotFound,
    RoleNotPermitted,
)
from engine.runtime import TransitionRecord
from engine.tables import Case, Region
from workflows import emergency
from workflows.base import FUNDS, household_hashes, insert_or_skip, role_of
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


def move_fund(
    session: Session,
    *,
    account: str,
    kind: str,
    amount_fen: int,
    actor: Actor,
    now: datetime,
    case_id: int | None = None,
) -> int:
    conn = session.connection()
    balance = lock_fund(conn, account, now)
    after = balance + amount_fen if kind == "deposit" else balance - amount_fen
    if after < 0:
        raise InvalidInput(f"备用金余额不足 / the reserve fund {account} is short: {balance} fen")
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
        )
    )
    session.flush()
    return after


def deposit_fund(
    session: Session, *, env: Env, township_code: str, amount_fen: int, actor: Actor, now: datetime
) -> int:
    """Pay into a reserve fund (a township's, or a county's for the grants it decides); the new balance."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or not 0 < amount_fen < FEN_LIMIT:
        raise InvalidInput(
            f"存入金额须为小于 {FEN_LIMIT} 的正整数（分）/ amount_fen must be a positive whole number of fen "
            f"below {FEN_LIMIT}"
        )
    region = session.get(Region, township_code)
    if region is None or region.level not in ("township", "county"):
        raise NotFound(f"乡镇 {township_code} 不存在 / township {township_code} not found")
    allowed = (Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN)
    if not actor.is_system and not any(
        g.role in allowed and covers(g.region_code, township_code) for g in actor.grants
    ):
        raise RoleNotPermitted("您无权向该备用金存入 / you may not pay into this fund")
    balance = move_fund(session, account=township_code, kind="deposit", amount_fen=amount_fen, actor=actor, now=now)
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role_of(actor),
        action="fund_deposit",
        region_code=township_code,
        data={"amount_fen": amount_fen, "balance_fen": balance},
    )
    return balance


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
    move_fund(session, account=account, kind="debit", amount_fen=amount, actor=actor, now=now, case_id=case.id)
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
