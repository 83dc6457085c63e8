"""Helpers for the engine's tests: a small world of regions and people, and one-line acts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlmodel import Session

from engine.access import Actor, Role
from engine.authorize import authorize
from engine.calendar import WorkCalendar
from engine.database import Database
from engine.definition import WorkflowDefinition
from engine.runtime import TransitionRecord, create_case, fire
from engine.tables import AuditEntry, AuditHead, Case
from tests.cast import World
from tests.engine.toy import TOY
from tests.factories import VILLAGE

CAL = WorkCalendar()

# The toy workflow's happy path: which act, by whom, leads into each state.
_PATH = {"review": ("submit", "clerk"), "notice": ("pass", "clerk"), "decision": ("notice_ends", "system")}


def open_case(
    s: Session,
    world: World,
    now: datetime,
    *,
    reference: str = "T-1",
    data: Mapping[str, Any] | None = None,
    definition: WorkflowDefinition = TOY,
) -> Case:
    """A draft in VILLAGE, filed by the clerk on behalf of `world.applicant`."""
    return create_case(
        s,
        definition=definition,
        region_code=VILLAGE,
        reference=reference,
        actor=world.clerk,
        role=Role.VILLAGE_OFFICER,
        data=dict(data or {}),
        now=now,
        calendar=CAL,
        applicant_user_id=world.applicant.user_id,
    )


def act(
    s: Session,
    case: Case,
    action: str,
    actor: Actor,
    now: datetime,
    *,
    data: Mapping[str, Any] | None = None,
    version: int | None = None,
    definition: WorkflowDefinition = TOY,
) -> TransitionRecord:
    """Authorize `action` on `case` for `actor`, then fire it, at the version the case shows unless told otherwise."""
    seen = case.version if version is None else version
    decision = authorize(definition, case, actor, action, version=seen)
    return fire(
        s,
        case=case,
        definition=definition,
        decision=decision,
        data=dict(data or {}),
        expected_version=seen,
        now=now,
        calendar=CAL,
    )


def walk_to(s: Session, case: Case, state: str, world: World, now: datetime) -> None:
    """Move a toy case from where it stands along the happy path until it reaches `state`."""
    order = ["draft", *_PATH]
    while case.state != state:
        action, who = _PATH[order[order.index(case.state) + 1]]
        act(s, case, action, world.by(who), now)


def entries(s: Session) -> list[AuditEntry]:
    return list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))  # type: ignore[arg-type]


def count(s: Session, model: type[Any]) -> int:
    return int(s.scalar(select(func.count()).select_from(model)) or 0)


def head(s: Session) -> tuple[int, str]:
    row = s.get(AuditHead, 1)
    assert row is not None
    return row.seq, row.hash


def drop_append_only(conn: Connection) -> None:
    """What an attacker with DDL rights does first: remove the triggers that refuse UPDATE and DELETE."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER audit_entries_no_update")
        conn.exec_driver_sql("DROP TRIGGER audit_entries_no_delete")
    else:
        conn.exec_driver_sql("DROP TRIGGER audit_entries_append_only ON audit_entries")


@contextmanager
def attacker(db: Database) -> Iterator[Connection]:
    """A committed edit of the audit table by someone who first removed its protection."""
    with db.engine.begin() as conn:
        drop_append_only(conn)
        yield conn
