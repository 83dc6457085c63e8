"""A payment run's part in bulk: its cases read a few hundred at a time, its lines inserted in one
statement, its audit entries built for one append."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlmodel import Session, col, select

from engine.access import Actor
from engine.calendar import local_date
from engine.tables import Case
from workflows.base import LINES, insert_or_skip, role_of
from workflows.policy import Rules

if TYPE_CHECKING:
    from workflows.env import Env

PART_READ = 500  # cases read per statement


def read_cases(session: Session, ids: list[int]) -> Iterator[Case]:
    """The cases of `ids`, in id order, read a few hundred at a time."""
    for k in range(0, len(ids), PART_READ):
        chunk = ids[k : k + PART_READ]
        yield from session.exec(select(Case).where(col(Case.id).in_(chunk)).order_by(col(Case.id))).all()


def insert_lines(conn: Connection, rows: list[dict[str, Any]]) -> set[int]:
    """Insert the lines, skipping any a concurrent run made first; the cases whose line was inserted."""
    if not rows:
        return set()
    statement = (
        insert_or_skip(conn, LINES)
        .on_conflict_do_nothing(index_elements=["case_id", "month"])
        .returning(LINES.c.case_id)
    )
    # one statement compiled once, its rows sent in batches (executemany with RETURNING)
    return {int(i) for i in conn.execute(statement, rows).scalars()}


def case_entry(case: Case, actor: Actor, action: str, now: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """An audit entry about a case that does not move, as auditlog.record writes it (for append_many)."""
    return {
        "at": now,
        "actor": actor.username,
        "role": role_of(actor),
        "action": action,
        "region_code": case.region_code,
        "case_id": case.id,
        "from_state": case.state,
        "to_state": case.state,
        "data": data,
    }


def cached_rules(env: Env, region_code: str, at: datetime, cache: dict[tuple[str, date], Rules] | None) -> Rules:
    """The rules in force in a region on a day; read once per region and day when given a `cache`."""
    if cache is None:
        return env.rules(region_code, at)
    key = (region_code, local_date(at))
    found = cache.get(key)
    if found is None:
        found = cache[key] = env.rules(region_code, at)
    return found
