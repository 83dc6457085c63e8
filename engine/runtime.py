"""Firing an authorized act: version and guards checked; state, audit and timers written in the
caller's transaction. Opening a case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, func, insert, literal, select, text, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from engine import auditlog
from engine.access import Actor, county_of, township_of
from engine.authorize import Decision, view
from engine.calendar import WorkCalendar
from engine.chainhead import holds_head
from engine.definition import GuardContext, WorkflowDefinition
from engine.errors import Attempt, GuardRejected, InvalidInput, StaleVersion
from engine.livestate import FILE_DIGEST, file_digest
from engine.machine import compiled
from engine.statements import RawStatement
from engine.tables import Case, CaseCount, TimerRow

_cases = Case.__table__  # type: ignore[attr-defined]
_timers = TimerRow.__table__  # type: ignore[attr-defined]
_counts = CaseCount.__table__  # type: ignore[attr-defined]
_INSERT_TIMER = RawStatement(
    insert(_timers).values(
        {
            name: bindparam(name, type_=_timers.c[name].type)
            for name in ("case_id", "action", "state", "entered_version", "due_at")
        }
    )
)
_case_updates: dict[tuple[str, ...], RawStatement] = {}

# engine.tables.CaseCount, kept in the same transaction as each case opened or moved; after the
# audit append, so under the chain head's lock: the count rows are never locked in two orders.
_COUNTED = "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) VALUES "
_ADD_UP = " ON CONFLICT (region_code, workflow, state) DO UPDATE SET n = case_counts.n + excluded.n"
_COUNT_IN = RawStatement(text(_COUNTED + "(:region, :workflow, :state, :township, :county, 1)" + _ADD_UP))
_COUNT_MOVE = RawStatement(
    text(
        _COUNTED + "(:region, :workflow, :before, :township, :county, -1), "
        "(:region, :workflow, :after, :township, :county, 1)" + _ADD_UP
    )
)


def _key(case: Case) -> dict[str, Any]:
    return {
        "region": case.region_code,
        "workflow": case.workflow,
        "township": case.township_code,
        "county": case.county_code,
    }


def _case_update(columns: tuple[str, ...]) -> RawStatement:
    """The version-checked UPDATE of a case setting `columns`, built once per column set."""
    stmt = _case_updates.get(columns)
    if stmt is None:
        stmt = RawStatement(
            update(_cases)
            .where(_cases.c.id == bindparam("where_id"), _cases.c.version == bindparam("where_version"))
            .values({name: bindparam(f"set_{name}", type_=_cases.c[name].type) for name in columns})
        )
        _case_updates[columns] = stmt
    return stmt


def _write_move(
    conn: Connection,
    case: Case,
    values: Mapping[str, Any],
    *,
    expected_version: int,
    timers: tuple[tuple[str, datetime], ...],
    entered_version: int,
    to_state: str,
    counts: bool,
) -> int:
    """The version-checked update of the case, its timers armed and (with `counts`) the kept counts
    moved: on PostgreSQL one statement, on SQLite one each. How many cases were updated (0: stale)."""
    params: dict[str, Any] = {f"set_{key}": value for key, value in values.items()}
    params.update(where_id=case.id, where_version=expected_version)
    for i, (action, due_at) in enumerate(timers):
        params.update({f"t{i}_action": action, f"t{i}_due_at": due_at})
    if timers:
        params.update(t_state=to_state, t_entered_version=entered_version)
    if counts:
        params.update(_key(case), before=case.state, after=to_state)
    if conn.dialect.name == "postgresql":
        cursor = _pg_move(tuple(values), len(timers), counts).execute(conn, params)
        row = cursor.fetchone()
        cursor.close()
        return int(row[0])
    assert not counts, "SQLite moves the counts after the append"
    cursor = _case_update(tuple(values)).execute(conn, params)
    updated = int(cursor.rowcount)
    cursor.close()
    if updated == 1:
        for i in range(len(timers)):
            _INSERT_TIMER.execute(
                conn,
                {
                    "case_id": case.id,
                    "action": params[f"t{i}_action"],
                    "state": to_state,
                    "entered_version": entered_version,
                    "due_at": params[f"t{i}_due_at"],
                },
            ).close()
    return updated


_pg_moves: dict[tuple[tuple[str, ...], int, bool], RawStatement] = {}


def _pg_move(columns: tuple[str, ...], timers: int, counts: bool) -> RawStatement:
    """PostgreSQL: `WITH moved AS (UPDATE cases … RETURNING id)`, each timer and the two count rows
    inserted from `moved` (so nothing is written when the version was stale), `SELECT count(*)`."""
    key = (columns, timers, counts)
    stmt = _pg_moves.get(key)
    if stmt is not None:
        return stmt
    moved = (
        update(_cases)
        .where(_cases.c.id == bindparam("where_id"), _cases.c.version == bindparam("where_version"))
        .values({name: bindparam(f"set_{name}", type_=_cases.c[name].type) for name in columns})
        .returning(_cases.c.id)
        .cte("moved")
    )
    query = select(func.count()).select_from(moved)
    text_ = _timers.c.action.type
    for i in range(timers):
        armed = select(
            moved.c.id,
            bindparam(f"t{i}_action", type_=text_),
            bindparam("t_state", type_=_timers.c.state.type),
            bindparam("t_entered_version", type_=_timers.c.entered_version.type),
            bindparam(f"t{i}_due_at", type_=_timers.c.due_at.type),
        )
        query = query.add_cte(
            insert(_timers)
            .from_select(["case_id", "action", "state", "entered_version", "due_at"], armed)
            .cte(f"timer{i}")
        )
    if counts:
        named = ("region", "workflow", "township", "county")
        scope = {name: bindparam(name, type_=text_) for name in named}

        def row(state: str, n: int) -> Any:
            return select(
                scope["region"],
                scope["workflow"],
                bindparam(state, type_=text_),
                scope["township"],
                scope["county"],
                literal(n, BigInteger),
            ).select_from(moved)

        shift = pg_insert(_counts).from_select(
            ["region_code", "workflow", "state", "township_code", "county_code", "n"],
            union_all(row("before", -1), row("after", 1)),
        )
        shift = shift.on_conflict_do_update(
            index_elements=["region_code", "workflow", "state"], set_={"n": _counts.c.n + shift.excluded.n}
        )
        query = query.add_cte(shift.cte("counted"))
    stmt = _pg_moves[key] = RawStatement(query)
    return stmt


@dataclass(frozen=True)
class TransitionRecord:
    """What happened, for the caller to react to (notifications, payments): no I/O was done for it."""

    case_id: int
    reference: str
    workflow: str
    region_code: str
    action: str
    from_state: str
    to_state: str
    actor: str
    actor_user_id: int | None
    role: str
    at: datetime
    version: int
    audit_seq: int
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    due_at: datetime | None = None

    @property
    def moved(self) -> bool:
        return self.from_state != self.to_state


def fire(
    session: Session,
    *,
    case: Case,
    definition: WorkflowDefinition,
    decision: Decision,
    data: Mapping[str, Any],
    expected_version: int,
    now: datetime,
    calendar: WorkCalendar,
    facts: Mapping[str, Any] | None = None,
    comment: str | None = None,
    due_at: datetime | None = None,
    recorded_at: datetime | None = None,
    audit_extra: Mapping[str, Any] | None = None,
) -> TransitionRecord:
    """Apply the act `decision` permits to `case`, all in the session's open transaction.

    Scope, role and state were judged by `authorize`; here only the version (before the write, and
    again under the row update) and the guards. `now` is when the act takes effect (a timer's due
    time for timer-fired acts); the audit entry is stamped `recorded_at` (default: `now`).
    """
    assert case.id is not None
    if decision.case_id != case.id:
        raise ValueError(f"a decision on case {decision.case_id} cannot fire case {case.id}")
    if expected_version != case.version:
        raise StaleVersion(case.id, expected_version, case.version)
    if decision.version != case.version:
        raise StaleVersion(case.id, decision.version, case.version)
    if definition.transition_from(case.state, decision.action) is not decision.rule:
        raise ValueError(f"the decision to {decision.action} was made on another workflow than {definition.key}")
    actor, role, action, rule = decision.actor, decision.role, decision.action, decision.rule
    before = view(case)
    ctx = GuardContext(
        before, actor, role, action, MappingProxyType(dict(data)), now, MappingProxyType(dict(facts or {}))
    )
    machine = compiled(definition)
    try:
        machine.check_guards(rule, ctx)
    except GuardRejected as refused:
        refused.attempt = Attempt(actor.username, role, case.region_code, case.id)
        raise
    to_state = machine.step(case.state, action, ctx)

    patch = dict(rule.effect(ctx)) if rule.effect is not None else {}
    new_data = {**case.data, **patch} if patch else case.data
    if patch and definition.check_data is not None:
        definition.check_data(new_data)
    new_version = case.version + 1
    entered = not rule.internal
    values: dict[str, Any] = {"state": to_state, "version": new_version, "updated_at": now}
    if patch:
        values["data"] = new_data
    after = replace(before, version=new_version, data=MappingProxyType(new_data))
    if entered:
        after = replace(after, state=to_state, state_entered_at=now)
    if entered:
        values["entered_version"] = new_version
        values["state_entered_at"] = now
        deadline = definition.deadline_for(to_state)
        values["deadline"] = deadline.due_at(after, calendar) if deadline else None
    session.flush()  # what the caller has pending goes first, as autoflush would have it
    conn = session.connection()
    # Entering a state arms its timers; an act that stays may re-arm some of them.
    armed = (
        definition.timers_for(to_state)
        if entered
        else tuple(t for t in definition.timers_for(to_state) if t.action in rule.rearms)
    )
    timers = tuple((timer.action, timer.due_at(after, calendar)) for timer in armed)
    moves = to_state != before.state
    # The kept counts are moved under the chain head's lock, so that count rows are never locked in two
    # orders: with the case's own update when the unit already holds the head (a group-commit batch on
    # PostgreSQL, one round trip for the three), otherwise after the audit append.
    fold_counts = moves and conn.dialect.name == "postgresql" and holds_head(conn)
    updated = _write_move(
        conn,
        case,
        values,
        expected_version=expected_version,
        timers=timers,
        entered_version=values.get("entered_version", case.entered_version),
        to_state=to_state,
        counts=fold_counts,
    )
    if updated != 1:
        assert case.id is not None
        actual = conn.execute(select(_cases.c.version).where(_cases.c.id == case.id)).scalar_one_or_none()
        raise StaleVersion(case.id, expected_version, actual)
    for key, value in values.items():
        set_committed_value(case, key, value)

    # "data" is always there: engine.livestate tells a move from an entry that only records by it.
    act: dict[str, Any] = {"data": dict(data)}
    if comment:
        act["comment"] = comment
    if patch:
        act["set"] = patch
    if audit_extra:
        act.update(audit_extra)
    written = auditlog.append(
        session,
        at=recorded_at or now,
        actor=actor.username,
        role=role,
        action=action,
        region_code=case.region_code,
        case_id=case.id,
        from_state=before.state,
        to_state=to_state,
        data=act,
        due_at=due_at,
    )
    if moves and not fold_counts:
        _COUNT_MOVE.execute(conn, {**_key(case), "before": before.state, "after": to_state}).close()
    assert case.id is not None
    return TransitionRecord(
        case_id=case.id,
        reference=case.reference,
        workflow=case.workflow,
        region_code=case.region_code,
        action=action,
        from_state=before.state,
        to_state=to_state,
        actor=actor.username,
        actor_user_id=actor.user_id,
        role=role,
        at=now,
        version=new_version,
        audit_seq=written.seq,
        data=MappingProxyType(dict(data)),
        due_at=due_at,
    )


def record_refusal(session: Session, refused: GuardRejected, *, at: datetime) -> bool:
    """Put on the audit trail a refusal that judged the person (recusal, separation of duties), in
    a transaction of its own after the refused act was rolled back. False when there is none to record."""
    if not refused.about_actor or refused.attempt is None:
        return False
    who = refused.attempt
    auditlog.append(
        session,
        at=at,
        actor=who.actor,
        role=who.role,
        action="refused",
        region_code=who.region_code,
        case_id=who.case_id,
        from_state=refused.state,
        to_state=refused.state,
        data={"attempted": refused.action, "reasons": list(refused.about_actor)},
    )
    return True


def create_case(
    session: Session,
    *,
    definition: WorkflowDefinition,
    region_code: str,
    reference: str,
    actor: Actor,
    role: str,
    data: Mapping[str, Any],
    now: datetime,
    calendar: WorkCalendar,
    applicant_user_id: int | None = None,
    tracking_hash: str | None = None,
    state: str | None = None,
    audit_data: Mapping[str, Any] | None = None,
) -> Case:
    """Open a case in the definition's initial (or a declared entry) state, with its audit entry."""
    start = state or definition.initial
    if start != definition.initial and start not in definition.entry_states:
        raise InvalidInput(f"workflow {definition.key} cannot start in {start}")
    if definition.check_data is not None:
        definition.check_data(data)
    case = Case(
        workflow=definition.key,
        workflow_version=definition.version,
        reference=reference,
        tracking_hash=tracking_hash,
        region_code=region_code,
        township_code=township_of(region_code),
        county_code=county_of(region_code),
        state=start,
        version=1,
        entered_version=1,
        state_entered_at=now,
        deadline=None,
        applicant_user_id=applicant_user_id,
        created_by_user_id=actor.user_id,
        data=dict(data),
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    assert case.id is not None
    view_now = view(case)
    deadline = definition.deadline_for(start)
    if deadline is not None:
        case.deadline = deadline.due_at(view_now, calendar)
    for timer in definition.timers_for(start):
        session.add(
            TimerRow(
                case_id=case.id,
                action=timer.action,
                state=start,
                entered_version=1,
                due_at=timer.due_at(view_now, calendar),
            )
        )
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=role,
        action="create",
        region_code=region_code,
        case_id=case.id,
        from_state=None,
        to_state=start,
        data={**(audit_data if audit_data is not None else {}), FILE_DIGEST: file_digest(data)},
    )
    _COUNT_IN.execute(session.connection(), {**_key(case), "state": start}).close()
    session.flush()
    return case
