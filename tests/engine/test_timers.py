"""The timer sweep (`aidflow timers run`): due timers fire once, in due order, at their due time."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from engine.access import Role
from engine.audit import iso
from engine.auditlog import verify_log
from engine.calendar import Delay, Unit
from engine.database import Database
from engine.definition import Deadline, GuardContext, Timer, WorkflowDefinition, transition, validate
from engine.runtime import TransitionRecord
from engine.tables import AuditEntry, Case, TimerRow
from engine.timers import SweepResult, run_due
from tests.cast import World
from tests.engine.support import CAL, act, entries, open_case, walk_to
from tests.engine.toy import TOY

WEEK = timedelta(days=7)


def _resolve(definition: WorkflowDefinition = TOY):  # type: ignore[no-untyped-def]
    return lambda session, case: (definition, CAL, {})


def _sweep(
    db: Database, until: datetime, *, wall: datetime | None = None, definition: WorkflowDefinition = TOY
) -> SweepResult:
    return run_due(db.session, now=until, resolve=_resolve(definition), clock=lambda: wall or until)


def _in_notice(
    db: Database, world: World, passed_at: Iterable[datetime], now: datetime, data: dict[str, object] | None = None
) -> list[int]:
    """One case per moment, each passed into the notice at that moment (its timer due a week later)."""
    ids = []
    with db.session() as s:
        for i, moment in enumerate(passed_at):
            case = open_case(s, world, now, reference=f"N-{i:03d}", data=data)
            walk_to(s, case, "review", world, now)
            act(s, case, "pass", world.clerk, moment)
            assert case.id is not None
            ids.append(case.id)
    return ids


def test_due_timers_fire_once_each_in_due_order(db: Database, world: World, now: datetime) -> None:
    late, early, middle = _in_notice(db, world, [now + timedelta(hours=2), now, now + timedelta(hours=1)], now)
    assert _sweep(db, now + WEEK - timedelta(seconds=1)).fired == 0  # nothing is due a second early
    swept = _sweep(db, now + WEEK + timedelta(hours=3))
    assert (swept.fired, swept.void, swept.refused) == (3, 0, 0)
    assert [r.case_id for r in swept.records] == [early, middle, late]
    assert [r.due_at for r in swept.records] == [
        now + WEEK,
        now + WEEK + timedelta(hours=1),
        now + WEEK + timedelta(hours=2),
    ]
    with db.session(write=False) as s:
        fired = [e for e in entries(s) if e.action == "notice_ends"]
        assert [e.case_id for e in fired] == [early, middle, late]  # the trail is in due order too
        timers = s.scalars(select(TimerRow).where(TimerRow.action == "notice_ends")).all()
        assert all(t.fired_at is not None and t.outcome == "fired" for t in timers)
    again = _sweep(db, now + WEEK + timedelta(hours=3))
    assert (again.fired, again.void) == (0, 0)


def test_a_fired_transition_takes_effect_at_the_due_time_and_the_trail_records_both_times(
    db: Database, world: World, now: datetime
) -> None:
    (case_id,) = _in_notice(db, world, [now], now)
    due, wall = now + WEEK, now + WEEK + timedelta(days=2, minutes=5)  # the sweep ran two days late
    swept = _sweep(db, wall, wall=wall)
    (record,) = swept.records
    assert isinstance(record, TransitionRecord)
    assert (record.action, record.actor, record.role, record.at, record.due_at) == (
        "notice_ends",
        "system",
        Role.SYSTEM,
        due,
        due,
    )
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.state, case.state_entered_at, case.updated_at) == ("decision", due, due)
        # The next stage's clock starts at the due time, not when the sweep happened to run.
        assert case.deadline == CAL.add_working_days(due, 10)
        follow_up = s.scalars(select(TimerRow).where(TimerRow.action == "flag_overdue")).one()
        assert follow_up.due_at == CAL.add_working_days(due, 10)
        entry = s.get(AuditEntry, record.audit_seq)
        assert entry is not None
        assert (entry.at, entry.due_at, entry.actor) == (wall, due, "system")
        timer = json.loads(entry.data)["timer"]
        assert (timer["due"], timer["swept_until"], timer["late"]) == (iso(due), iso(wall), True)
        assert verify_log(s).ok


def test_an_earlier_now_than_a_previous_sweep_finds_nothing(db: Database, world: World, now: datetime) -> None:
    _in_notice(db, world, [now, now + timedelta(days=1)], now)
    assert _sweep(db, now + WEEK + timedelta(days=2)).fired == 2
    for earlier in (now + WEEK + timedelta(days=1), now + WEEK, now):
        result = _sweep(db, earlier)
        assert (result.fired, result.void, result.refused, result.retried) == (0, 0, 0, 0)


def test_a_timer_is_void_once_the_case_has_left_its_state(db: Database, world: World, now: datetime) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        walk_to(s, case, "decision", world, now)
        act(s, case, "approve", world.boss, now + timedelta(days=1), data={"amount_fen": 500})
        case_id, version = case.id, case.version
    with db.session(write=False) as s:
        trail = len(entries(s))
    swept = _sweep(db, now + timedelta(days=60))
    # Both timers the case ever set: the notice's (its end was fired by hand) and the decision's.
    assert (swept.fired, swept.void) == (0, 2)
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.state, case.version) == ("done", version)
        timers = s.scalars(select(TimerRow).where(TimerRow.case_id == case_id)).all()
        assert {t.action for t in timers} == {"notice_ends", "flag_overdue"}
        assert all(t.fired_at is not None and (t.outcome or "").startswith("void") for t in timers)
        assert len(entries(s)) == trail  # a void timer writes nothing to the case's trail


def test_a_timer_is_void_when_the_case_left_its_state_and_came_back(db: Database, world: World, now: datetime) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        walk_to(s, case, "decision", world, now)  # first stay in decision: its overdue flag is due 16 October
        act(s, case, "send_back", world.boss, now + timedelta(days=1))
        act(s, case, "pass", world.clerk, now + timedelta(days=1))
        case_id = case.id
    first_flag = CAL.add_working_days(now, 10)
    back = _sweep(db, now + timedelta(days=9))
    # The second notice ends on 6 October: back in decision. The first notice's timer is void: the
    # case stands in 'notice' again, but entered it later than that timer was set for.
    assert (back.fired, back.void) == (1, 1)
    second_flag = CAL.add_working_days(now + timedelta(days=8), 10)
    assert first_flag < second_flag
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.state == "decision"
        version = case.version
    stale = _sweep(db, first_flag + timedelta(hours=1))
    assert (stale.fired, stale.void) == (0, 1)  # same state, but entered again since: not its timer any more
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.version == version
    current = _sweep(db, second_flag + timedelta(hours=1))
    assert (current.fired, current.void) == (1, 0)
    assert current.records[0].action == "flag_overdue"
    assert current.records[0].due_at == second_flag


def _no_open_objection(ctx: GuardContext) -> Iterable[str]:
    if ctx.case.data.get("objection"):
        yield "公示期内有未处理的异议 / an objection to the notice is still open"


OBJECTING = validate(
    dataclasses.replace(
        TOY,
        key="toy_objecting",
        transitions=tuple(
            transition("notice_ends", "notice", "decision", by=[Role.SYSTEM], guards=[_no_open_objection])
            if t.action == "notice_ends"
            else t
            for t in TOY.transitions
        ),
    )
)


def test_a_timer_whose_guard_refuses_is_recorded_as_refused_and_the_case_stays(
    db: Database, world: World, now: datetime
) -> None:
    (case_id,) = _in_notice(db, world, [now], now, data={"objection": True})
    swept = _sweep(db, now + WEEK + timedelta(days=1), definition=OBJECTING)
    assert (swept.fired, swept.refused) == (0, 1)
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.state == "notice"
        timer = s.scalars(select(TimerRow).where(TimerRow.case_id == case_id)).one()
        assert timer.outcome == "refused: 公示期内有未处理的异议 / an objection to the notice is still open"
    assert _sweep(db, now + WEEK + timedelta(days=2), definition=OBJECTING).refused == 0  # refused once, not again


def test_two_sweepers_at_once_fire_each_of_forty_timers_exactly_once(db: Database, world: World, now: datetime) -> None:
    ids = _in_notice(db, world, [now + timedelta(minutes=i) for i in range(40)], now)
    barrier = threading.Barrier(2)
    results: list[SweepResult] = []
    errors: list[BaseException] = []

    def linger(session: Session, record: TransitionRecord) -> None:
        time.sleep(0.002)  # keep each claim open a little, so the sweepers overlap

    def sweeper() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(
                run_due(db.session, now=now + WEEK + timedelta(hours=1), resolve=_resolve(), on_fired=linger)
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(r.fired for r in results) != [0, 40]  # both took part
    assert sum(r.fired for r in results) == 40
    assert sum(r.void + r.refused for r in results) == 0
    fired_cases = Counter(record.case_id for r in results for record in r.records)
    assert fired_cases == dict.fromkeys(ids, 1)
    with db.session(write=False) as s:
        per_case = Counter(s.scalars(select(AuditEntry.case_id).where(AuditEntry.action == "notice_ends")))
        assert per_case == dict.fromkeys(ids, 1)
        states = Counter(s.scalars(select(Case.state).where(Case.id.in_(ids))))  # type: ignore[union-attr]
        assert states == {"decision": 40}
        verdict = verify_log(s)
        assert verdict.ok, verdict


def _with_clock_from_creation() -> WorkflowDefinition:
    """The toy with the decision's flag due a fixed 20 days after the case was opened (a clock that
    started before the state), moved to 30 days by an `extend` act that stays in the state."""

    def due(case, calendar):  # type: ignore[no-untyped-def]
        days = 30 if case.data.get("extended") else 20
        return case.created_at + timedelta(days=days)

    timers = tuple(t for t in TOY.timers if t.state != "decision")
    return validate(
        dataclasses.replace(
            TOY,
            version=2,
            transitions=(
                *TOY.transitions,
                transition(
                    "extend",
                    "decision",
                    None,
                    by=[Role.TOWNSHIP_OFFICER],
                    effect=lambda ctx: {"extended": True},
                    rearms=("flag_overdue",),
                ),
                transition("note", "rejected", None, by=[Role.TOWNSHIP_OFFICER]),
            ),
            timers=(*timers, Timer("decision", "flag_overdue", lambda _c: Delay(1, Unit.DAYS), due=due)),
            deadlines=(Deadline("decision", lambda _c: Delay(1, Unit.DAYS), due=due),),
        )
    )


def test_a_clock_that_started_before_the_state_is_due_from_its_own_start_and_an_act_may_move_it(
    db: Database, world: World, now: datetime
) -> None:
    definition = _with_clock_from_creation()
    with db.session() as s:
        case = open_case(s, world, now, definition=definition)
        for action, who in (("submit", world.clerk), ("pass", world.clerk)):
            act(s, case, action, who, now, definition=definition)
        case_id = case.id
    _sweep(db, now + WEEK, definition=definition)  # the notice ends: the case reaches its decision
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.state == "decision"
        assert iso(case.deadline) == iso(now + timedelta(days=20)), "from the case's opening, not the state's"
        act(s, case, "extend", world.boss, now + WEEK, definition=definition)
        due = sorted(iso(t.due_at) for t in s.exec(select(TimerRow).where(TimerRow.case_id == case_id)).scalars())
    assert iso(now + timedelta(days=20)) in due
    assert iso(now + timedelta(days=30)) in due, "the extension set the state's flag again"
    result = _sweep(db, now + timedelta(days=40), definition=definition)
    assert result.fired == 2, "both flags fire: a guard, not the engine, would judge the earlier one moot"


def test_a_record_may_follow_a_terminal_state_but_no_exit() -> None:
    definition = _with_clock_from_creation()
    assert definition.transition_from("rejected", "note") is not None
    assert all(t.internal for s in definition.terminal for t in definition.available_from(s))
