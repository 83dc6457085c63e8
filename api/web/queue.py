"""The officials' work queue as a page shows it: rows in words, counts per stage, the filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from api import services
from api.services import QueueFilter
from engine import auditlog
from engine.access import OFFICIAL_ROLES, Actor, region_prefix
from engine.calendar import local_date
from engine.tables import Case, Region
from workflows import aidtypes
from workflows.env import Env


def aid_types() -> dict[str, str]:
    """The aid types by key, each named "中文 / English" as its declaration names it (shown with pick)."""
    return {a.key: a.label for a in aidtypes.all()}


PAGE_SIZE = 25
# Due within this many working days (and not yet overdue): marked so it is done before it is late.
DUE_SOON_WORKING_DAYS = 2


@dataclass(frozen=True)
class Amount:
    fen: int
    monthly: bool


@dataclass(frozen=True)
class Row:
    id: int
    reference: str
    name: str
    village: str
    aid_type: str
    state: str
    state_label: str
    amount: Amount | None
    deadline: datetime | None
    days_left: int | None
    overdue: bool
    due_soon: bool
    provisional: bool = False  # counts working days of a year whose holiday notice is not out (暂定)


@dataclass(frozen=True)
class Stage:
    state: str
    label: str
    count: int


@dataclass(frozen=True)
class QueueView:
    rows: list[Row]
    stages: list[Stage]
    total: int
    villages: list[tuple[str, str]]
    next_cursor: str | None
    only: QueueFilter


def amount_of(data: Mapping[str, Any]) -> Amount | None:
    """The sum the case is about at its present step: the approved monthly amount, else the one the
    village proposed, else an emergency grant, else what was asked for."""
    for key, monthly in (("monthly_amount_fen", True), ("proposed_monthly_fen", True)):
        if isinstance(data.get(key), int):
            return Amount(int(data[key]), monthly)
    granted = (data.get("grant") or data.get("temporary_grant") or {}).get("amount_fen")
    if isinstance(granted, int):
        return Amount(granted, False)
    asked = data.get("amount_requested_fen")
    return Amount(asked, False) if isinstance(asked, int) else None


def villages_in_scope(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(code, name) of every village the actor's official grants reach, by code."""
    prefixes = [region_prefix(g.region_code) for g in actor.grants if g.role in OFFICIAL_ROLES]
    if not prefixes:
        return []
    rows = session.exec(
        select(Region)
        .where(Region.level == "village", or_(*(col(Region.code).startswith(p) for p in prefixes)))
        .order_by(col(Region.code))
    ).all()
    return [(r.code, r.name) for r in rows]


def state_labels(env: Env) -> dict[str, str]:
    labels: dict[str, str] = {}
    for definition in env.definitions():
        for state in definition.states:
            labels.setdefault(state, definition.label(state))
    return labels


def queue_view(
    session: Session, env: Env, actor: Actor, *, now: datetime, cursor: str | None, only: QueueFilter
) -> QueueView:
    """One page of the actor's queue; reading the households' names on it is an audit entry."""
    page = services.queue_cases(session, env, actor, limit=PAGE_SIZE, cursor=cursor, now=now, only=only)
    villages = villages_in_scope(session, actor)
    names = dict(villages)
    rows = [_row(session, env, case, names, now) for case in page.cases]
    if rows:
        auditlog.append(
            session,
            at=now,
            actor=actor.username,
            role=actor.grants[0].role if actor.grants else "unknown",
            action="view_queue",
            data={"cases": [r.id for r in rows]},
        )
    labels = state_labels(env)
    stages = [Stage(s, labels.get(s, s), n) for s, n in sorted(page.counts.items(), key=lambda kv: _order(env, kv[0]))]
    return QueueView(
        rows=rows,
        stages=stages,
        total=sum(page.counts.values()),
        villages=villages,
        next_cursor=page.next_cursor,
        only=only,
    )


def _order(env: Env, state: str) -> tuple[int, int, str]:
    """Stages in the order a case meets them, the standard workflow's before the emergency channel's."""
    for definition in sorted(env.definitions(), key=lambda d: d.key != "standard"):
        if state in definition.states:
            return int(definition.key != "standard"), definition.states.index(state), state
    return 999, 999, state


def _row(session: Session, env: Env, case: Case, villages: Mapping[str, str], now: datetime) -> Row:
    summary = services.summary(session, env, case)
    deadline = summary.deadline
    days_left = (local_date(deadline) - local_date(now)).days if deadline is not None else None
    overdue = deadline is not None and deadline < now
    due_soon = (
        deadline is not None and not overdue and deadline <= env.calendar.add_working_days(now, DUE_SOON_WORKING_DAYS)
    )
    data = case.data
    return Row(
        id=summary.id,
        reference=summary.reference,
        name=str((data.get("applicant") or {}).get("name") or ""),
        village=villages.get(case.region_code, case.region_code),
        aid_type=str(data.get("aid_type") or ""),
        state=case.state,
        state_label=summary.state_label,
        amount=amount_of(data),
        deadline=deadline,
        days_left=days_left,
        overdue=overdue,
        due_soon=due_soon,
        provisional=summary.deadline_provisional,
    )
