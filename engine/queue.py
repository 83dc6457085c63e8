"""Work queues: the cases an official can act on now, soonest deadline first, from indexes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from engine.access import Actor, Role, covers, region_level, region_prefix
from engine.definition import WorkflowDefinition
from engine.statements import RawStatement
from engine.tables import MAX_ID, Case, CaseCount

_c = Case.__table__.c  # type: ignore[attr-defined]
_k = CaseCount.__table__.c  # type: ignore[attr-defined]


def waiting_states(definition: WorkflowDefinition) -> frozenset[str]:
    """States the calendar moves on by itself and that hold nobody to a deadline (support running
    until its review, a grace period): nobody's task until the timer brings the case to a person."""
    waiting = set()
    for timer in definition.timers:
        moved = definition.transition_from(timer.state, timer.action)
        if moved is not None and not moved.internal and definition.deadline_for(timer.state) is None:
            waiting.add(timer.state)
    return frozenset(waiting)


def actionable_states(definitions: Iterable[WorkflowDefinition]) -> dict[str, frozenset[str]]:
    """For each role: the states in which it has work (system-only acts and waiting states excluded).
    Worked out once per set of definitions: the very objects (two definitions of one key and version
    built apart, as a test may build them, are told apart), which the cache keeps alive."""
    definitions = tuple(definitions)
    key = tuple(id(d) for d in definitions)
    found = _actionable.get(key)
    if found is None or any(a is not b for a, b in zip(found[0], definitions, strict=True)):
        if len(_actionable) > 256:
            _actionable.clear()
        found = _actionable[key] = (definitions, _actionable_states(list(definitions)))
    return dict(found[1])


_actionable: dict[tuple[int, ...], tuple[tuple[WorkflowDefinition, ...], dict[str, frozenset[str]]]] = {}


def _actionable_states(definitions: list[WorkflowDefinition]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for definition in definitions:
        waiting = waiting_states(definition)
        for t in definition.transitions:
            if not t.queued:
                continue
            for role in t.roles:
                if role in (Role.SYSTEM, Role.PUBLIC):
                    continue
                found.setdefault(role, set()).update(s for s in t.source if s not in waiting)
    return {role: frozenset(states) for role, states in found.items() if states}


def scope_clause(region: str, columns: Any = _c) -> ColumnElement[bool]:
    """Cases (or, given `columns`, rows of another table with the same region columns) at or below
    `region`, on the column an index leads with."""
    c = columns
    level = region_level(region)
    column = {"village": c.region_code, "township": c.township_code, "county": c.county_code}.get(level)
    clause = column == region if column is not None else c.county_code.like(region_prefix(region) + "%")
    return cast("ColumnElement[bool]", clause)


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    """Every case the actor may see: their regions', and their own applications."""
    parts: list[ColumnElement[bool]] = [
        scope_clause(g.region_code) for g in actor.grants if g.role not in (Role.APPLICANT, Role.SYSTEM, Role.PUBLIC)
    ]
    if actor.user_id is not None:
        parts.append(_c.applicant_user_id == actor.user_id)
    return or_(*parts) if parts else false()


@dataclass(frozen=True)
class Cursor:
    deadline: datetime | None
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.deadline.isoformat() if self.deadline else None, self.id])
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, token: str) -> Cursor:
        raw = json.loads(base64.urlsafe_b64decode(token.encode()))
        ident = int(raw[1])
        if not 0 <= ident <= MAX_ID:
            raise ValueError(f"cursor id out of range: {ident}")
        moment = datetime.fromisoformat(raw[0]) if raw[0] else None
        if moment is not None and moment.tzinfo is None:
            raise ValueError("cursor time without a zone")
        return cls(moment, ident)


def data_equals(key: str, value: str) -> ColumnElement[bool]:
    """Cases whose data holds `value` under `key` (a filter within an index range, not a lookup)."""
    return cast("ColumnElement[bool]", _c.data[key].as_string() == value)


def _queue_clause(
    actor: Actor, states_by_role: Mapping[str, frozenset[str]], narrow: Sequence[ColumnElement[bool]] = ()
) -> ColumnElement[bool]:
    parts = []
    for grant in actor.grants:
        states = states_by_role.get(grant.role)
        if states:
            parts.append(and_(scope_clause(grant.region_code), _c.state.in_(sorted(states))))
    return and_(or_(*parts), *narrow) if parts else false()


def _ranges(actor: Actor, states_by_role: Mapping[str, frozenset[str]]) -> list[tuple[str, str]]:
    """The (region, state) pairs of the actor's queue: each one range of a queue index."""
    pairs: list[tuple[str, str]] = []
    for grant in actor.grants:
        for state in sorted(states_by_role.get(grant.role, ())):
            if (grant.region_code, state) not in pairs:
                pairs.append((grant.region_code, state))
    return pairs


def queue_query(
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    *,
    limit: int,
    after: Cursor | None = None,
    undated: bool = False,
    narrow: Sequence[ColumnElement[bool]] = (),
    postgres: bool = False,
) -> Select[Any] | CompoundSelect[Any]:
    """One phase of the queue: cases with a deadline by (deadline, id), or those without by id.
    `narrow` adds conditions (a village, a state) within the same index ranges.

    One SELECT per (region, state) range of the index, each already in (deadline, id) order there,
    merged by a UNION ALL under the ORDER BY: SQLite merges the ranges as they are read and PostgreSQL
    plans a Merge Append, so neither sorts and the LIMIT stops both after `limit` rows. An IN list of
    the states would read every case of the region in those states and sort them. On PostgreSQL each
    range carries the limit too (see `_build`)."""
    statement, params = _phase(actor, states_by_role, limit, after, undated, narrow, postgres)
    return statement.params(params)


_AFTER_DEADLINE = bindparam("after_deadline", type_=_c.deadline.type)
_AFTER_ID = bindparam("after_id", type_=_c.id.type)
_LIMIT = bindparam("n", type_=Integer())


def _phase(
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    limit: int,
    after: Cursor | None,
    undated: bool,
    narrow: Sequence[ColumnElement[bool]],
    postgres: bool,
) -> tuple[Select[Any] | CompoundSelect[Any], dict[str, Any]]:
    """`queue_query`'s statement with the cursor and the limit as parameters, and their values.
    Without `narrow` the statement is built once per shape: building a dozen SELECTs costs more
    than the database takes to run them."""
    mode = None if after is None else ("undated" if after.deadline is None else "dated")
    params: dict[str, Any] = {"n": limit}
    if after is not None:
        params.update(after_deadline=after.deadline, after_id=after.id)
    pairs = tuple(_ranges(actor, states_by_role))
    if narrow:
        return _build(pairs, undated, mode, tuple(narrow), postgres), params
    return _built(pairs, undated, mode, postgres), params


@lru_cache(maxsize=256)
def _built(
    pairs: tuple[tuple[str, str], ...], undated: bool, mode: str | None, postgres: bool
) -> Select[Any] | CompoundSelect[Any]:
    return _build(pairs, undated, mode, (), postgres)


def _build(
    pairs: tuple[tuple[str, str], ...],
    undated: bool,
    mode: str | None,
    narrow: tuple[ColumnElement[bool], ...],
    postgres: bool,
) -> Select[Any] | CompoundSelect[Any]:
    parts = []
    for region, state in pairs:
        q = select(*_c).where(scope_clause(region), _c.state == state, *narrow)
        if undated:
            q = q.where(_c.deadline.is_(None))
            if mode == "undated":
                q = q.where(_c.id > _AFTER_ID)
        else:
            q = q.where(_c.deadline.is_not(None))
            if mode is not None:
                # A row comparison: an index condition on both databases, where the equivalent OR is
                # a filter PostgreSQL applies to every row from the start of the range.
                q = q.where(tuple_(_c.deadline, _c.id) > tuple_(_AFTER_DEADLINE, _AFTER_ID))
        parts.append(q)
    if not parts:
        return select(*_c).where(false()).limit(_LIMIT)
    merged: Select[Any] | CompoundSelect[Any] = parts[0] if len(parts) == 1 else union_all(*parts)
    if postgres and len(parts) > 1:
        # PostgreSQL 15 plans this UNION ALL as an append and sorts it whole (no Merge Append), so
        # each range stops at the limit itself: the sort is of (ranges × limit) rows, whatever the
        # number of cases.
        merged = union_all(*(q.order_by(_c.deadline, _c.id).limit(_LIMIT) for q in parts))
    cols = merged.selected_columns
    # Undated, every deadline is NULL and (deadline, id) is id order; said so, PostgreSQL sees that each
    # range's index gives it (by id alone it sorts every undated case of the region).
    return merged.order_by(cols.deadline, cols.id).limit(_LIMIT)


def _batch(
    session: Session,
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    n: int,
    after: Cursor | None,
    narrow: Sequence[ColumnElement[bool]],
) -> list[Case]:
    """Up to `n` cases in queue order after `after`: those with a deadline, then the rest."""
    rows: list[Case] = []
    postgres = session.get_bind().dialect.name == "postgresql"
    if after is None or after.deadline is not None:
        dated, params = _phase(actor, states_by_role, n, after, False, narrow, postgres)
        rows.extend(session.scalars(select(Case).from_statement(dated), params))
    if len(rows) < n:
        rest, params = _phase(actor, states_by_role, n - len(rows), after, True, narrow, postgres)
        rows.extend(session.scalars(select(Case).from_statement(rest), params))
    return rows


def queue_page(
    session: Session,
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    *,
    limit: int = 50,
    after: Cursor | None = None,
    keep: Callable[[Case], bool] | None = None,
    max_batches: int = 20,
    narrow: Sequence[ColumnElement[bool]] = (),
) -> tuple[Sequence[Case], Cursor | None]:
    """One page of the actor's queue: cases with a deadline first (soonest first), then the rest.

    Keyset pagination on (deadline, id): each page is an index range, never an OFFSET scan. `keep`
    drops cases the index cannot judge (the actor is recused, or acted at an earlier stage); the
    page is then filled from further ranges, at most `max_batches` of them, after which it is
    returned short with a cursor to go on from.
    """
    page: list[Case] = []
    seen: set[int | None] = set()  # grants over overlapping regions find a case in two ranges
    cursor = after
    for _ in range(max_batches):
        rows = _batch(session, actor, states_by_role, limit + 1, cursor, narrow)
        for row in rows:
            if row.id not in seen and (keep is None or keep(row)):
                page.append(row)
            seen.add(row.id)
        if len(page) > limit:
            last = page[limit - 1]
            return page[:limit], Cursor(last.deadline, last.id or 0)
        if len(rows) <= limit:
            return page, None
        cursor = Cursor(rows[-1].deadline, rows[-1].id or 0)
    return page, cursor


def queue_counts(
    session: Session,
    actor: Actor,
    states_by_role: Mapping[str, frozenset[str]],
    *,
    keep: Callable[[Case], bool] | None = None,
) -> dict[str, int]:
    """Cases per state in the actor's whole queue (the same cases its pages list, `keep` included).

    Without `keep` the kept counts (engine.tables.CaseCount: a few rows per village, whatever the
    number of cases); with it every case of the queue is judged, so the work is the length of one
    official's queue, not the size of their scope."""
    if keep is None:
        parts = [
            and_(scope_clause(grant.region_code, _k), _k.state.in_(sorted(states)))
            for grant in actor.grants
            if (states := states_by_role.get(grant.role))
        ]
        if not parts:
            return {}
        kept: dict[str, int] = {}
        for state, n in session.execute(select(_k.state, _k.n).where(or_(*parts))).all():
            if n:
                kept[state] = kept.get(state, 0) + int(n)
        return kept
    where = _queue_clause(actor, states_by_role)
    counts: dict[str, int] = {}
    for case in session.scalars(select(Case).where(where)):
        if keep(case):
            counts[case.state] = counts.get(case.state, 0) + 1
    return counts


def kept_rows(
    session: Session, actor: Actor, states_by_role: Mapping[str, frozenset[str]]
) -> list[tuple[str, str, str, int]]:
    """The kept counts (region, workflow, state, n) in the actor's queue ranges, each case counted once
    however many grants reach it. When no two of the actor's grants reach a common region
    (`grants_apart`), `region` is a grant's region and n the sum over its villages: the roles held are
    the same throughout, and the rows are a few per grant, whatever the number of villages and cases.
    Else one row per village."""
    conn = session.connection()
    statement = _kept_rows(_ranges_by_grant(actor, states_by_role), grants_apart(actor), conn.dialect.name)
    if statement is None:
        return []
    cursor = statement.execute(conn)
    try:
        return [(str(r), str(w), str(s), int(n)) for r, w, s, n in cursor.fetchall() if n]
    finally:
        cursor.close()


def grants_apart(actor: Actor) -> bool:
    """Whether no region is reached by two of the actor's grants: then each region's roles are its grant's."""
    regions = [g.region_code for g in actor.grants]
    return not any(covers(a, b) for i, a in enumerate(regions) for j, b in enumerate(regions) if i != j)


def grant_region(actor: Actor, region: str) -> str:
    """The region of the grant that reaches `region` (one, when `grants_apart`)."""
    return next(g.region_code for g in actor.grants if covers(g.region_code, region))


def _ranges_by_grant(
    actor: Actor, states_by_role: Mapping[str, frozenset[str]]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (grant.region_code, tuple(sorted(states)))
        for grant in actor.grants
        if (states := states_by_role.get(grant.role))
    )


@lru_cache(maxsize=256)
def _kept_rows(ranges: tuple[tuple[str, tuple[str, ...]], ...], by_grant: bool, dialect: str) -> RawStatement | None:
    """The statement with the ranges written in (region codes and state names, never user input): run
    on the driver's cursor, its rows plain text and integers."""
    if not ranges:
        return None
    statement: Select[Any] | CompoundSelect[Any]
    if by_grant:
        statement = union_all(
            *(
                select(literal(region).label("region"), _k.workflow, _k.state, func.sum(_k.n))
                .where(scope_clause(region, _k), _k.state.in_(states))
                .group_by(_k.workflow, _k.state)
                for region, states in ranges
            )
        )
    else:
        parts = [and_(scope_clause(region, _k), _k.state.in_(states)) for region, states in ranges]
        statement = select(_k.region_code, _k.workflow, _k.state, _k.n).where(or_(*parts))
    compiled = statement.compile(dialect=_DIALECTS[dialect](), compile_kwargs={"literal_binds": True})
    return RawStatement(text(str(compiled)))


_DIALECTS: dict[str, Callable[[], Dialect]] = {"sqlite": sqlite.dialect, "postgresql": postgresql.dialect}


def queue_cases_among(
    session: Session, actor: Actor, states_by_role: Mapping[str, frozenset[str]], ids: Select[Any], key: Hashable
) -> list[Case]:
    """The cases of the actor's queue ranges whose id is among `ids` (a subquery on an index): the work
    is the number of ids, not the size of the queue. The statement is kept per `key` (what `ids`
    depends on) and shape of the queue."""
    ranges = _ranges_by_grant(actor, states_by_role)
    statement = _among.get((ranges, key))
    if statement is None:
        parts = [and_(scope_clause(region), _c.state.in_(states)) for region, states in ranges]
        statement = select(Case).where(or_(*parts) if parts else false(), _c.id.in_(ids))
        if len(_among) > 1024:
            _among.clear()
        _among[(ranges, key)] = statement
    return list(session.scalars(statement))


_among: dict[Any, Select[Any]] = {}


def cases_in(session: Session, region: str, workflow: str, state: str) -> list[Case]:
    """Every case of a workflow in a state at or below `region` (one range of a queue index)."""
    q = select(Case).where(scope_clause(region), _c.state == state, _c.workflow == workflow)
    return list(session.scalars(q))


def visible_page(
    session: Session, actor: Actor, *, limit: int = 50, after_id: int | None = None, state: str | None = None
) -> tuple[Sequence[Case], int | None]:
    """Every case the actor may see, newest id first (a list that never leaks another scope)."""
    q = select(Case).where(visible_clause(actor))
    if state:
        q = q.where(_c.state == state)
    if after_id is not None:
        q = q.where(_c.id < after_id)
    rows = list(session.scalars(q.order_by(_c.id.desc()).limit(limit + 1)))
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit and page else None)
