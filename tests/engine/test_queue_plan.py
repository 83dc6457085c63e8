"""Queues are answered from their composite indexes, never by scanning or sorting all cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import text

from engine.access import Actor, Grant, Role
from engine.calendar import Delay, Unit
from engine.database import Database
from engine.definition import Deadline, Timer, WorkflowDefinition, transition, validate
from engine.queue import Cursor, actionable_states, queue_page, queue_query, waiting_states
from tests.engine.toy import TOY, case_on_notice
from tests.factories import TOWNSHIP, VILLAGE, make_regions, make_user

STATES = actionable_states([TOY])


def _plan(db: Database, actor: Actor, *, undated: bool = False) -> str:
    query = queue_query(actor, STATES, limit=50, undated=undated)
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.engine.connect() as conn:
        if db.is_sqlite:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
            return "\n".join(str(r[-1]) for r in rows)
        # On a table this small PostgreSQL rightly prefers a scan; forbid it to see the plan an index gives.
        conn.execute(text("SET enable_seqscan = off"))
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}").all())


def test_a_township_queue_reads_the_township_index_in_deadline_order(db: Database, now: datetime) -> None:
    officer = Actor(username="t", grants=(Grant(Role.TOWNSHIP_OFFICER, TOWNSHIP),))
    plan = _plan(db, officer)
    assert "ix_cases_township_queue" in plan, plan
    if db.is_sqlite:
        # A search of the township's range of the index, not a scan of every case. With several
        # actionable states the rows found are sorted by deadline (a sort of this queue's rows only).
        assert "SCAN cases" not in plan, plan
        assert "SEARCH cases USING INDEX ix_cases_township_queue (township_code=? AND state=?" in plan, plan
    else:
        assert "Seq Scan on cases" not in plan, plan
    assert "ix_cases_township_queue" in _plan(db, officer, undated=True)


def test_a_village_queue_reads_the_village_index(db: Database) -> None:
    clerk = Actor(username="v", grants=(Grant(Role.VILLAGE_OFFICER, VILLAGE),))
    plan = _plan(db, clerk)
    assert "ix_cases_village_queue" in plan, plan
    if db.is_sqlite:
        assert "SCAN cases" not in plan, plan


def test_queue_pages_follow_the_deadline_then_id_and_never_repeat(db: Database, now: datetime) -> None:
    with db.session() as s:
        make_regions(s)
        clerk = make_user(s, "clerk", role="village_officer", region=VILLAGE)
        boss = make_user(s, "boss", role="township_officer", region=TOWNSHIP)
        ids = []
        for i in range(4):  # each reaches `decision`, which carries a deadline: the later one, the sooner
            case = case_on_notice(s, clerk=clerk, reference=f"Q-{i}", at=now + timedelta(hours=i))
            due = now + timedelta(days=10 - i)
            s.execute(
                text("UPDATE cases SET state='decision', deadline=:d WHERE id=:i"),
                {"d": due.replace(tzinfo=None) if db.is_sqlite else due, "i": case.id},
            )
            ids.append(case.id)
        case_on_notice(s, clerk=clerk, reference="Q-still-on-notice", at=now)  # nobody's task yet
    seen: list[int] = []
    after: Cursor | None = None
    with db.session(write=False) as s:
        while True:
            page, after = queue_page(s, boss, STATES, limit=2, after=after)
            seen.extend(c.id or 0 for c in page)
            if after is None:
                break
    assert seen == ids[::-1]  # soonest deadline first, each once


def test_a_filtered_queue_fills_its_pages_from_further_ranges_and_keeps_its_order(db: Database, now: datetime) -> None:
    """Cases the caller may not act on (recused, say) are dropped; pages still hold `limit` cases."""
    with db.session() as s:
        make_regions(s)
        clerk = make_user(s, "clerk", role="village_officer", region=VILLAGE)
        boss = make_user(s, "boss", role="township_officer", region=TOWNSHIP)
        ids = []
        for i in range(9):  # deadlines on some, none on others: both phases of the queue
            case = case_on_notice(s, clerk=clerk, reference=f"F-{i}", at=now)
            due = now + timedelta(days=10 - i) if i % 3 else None
            s.execute(
                text("UPDATE cases SET state='decision', deadline=:d WHERE id=:i"),
                {"d": due.replace(tzinfo=None) if db.is_sqlite and due else due, "i": case.id},
            )
            ids.append((due, case.id))
    expected_all = [i for _d, i in sorted((d, i) for d, i in ids if d is not None)] + sorted(
        i for d, i in ids if d is None
    )
    dropped = set(expected_all[1::2])  # every other case in queue order
    expected = [i for i in expected_all if i not in dropped]
    seen: list[int] = []
    sizes: list[int] = []
    after: Cursor | None = None
    with db.session(write=False) as s:
        while True:
            page, after = queue_page(s, boss, STATES, limit=2, after=after, keep=lambda c: c.id not in dropped)
            seen.extend(c.id or 0 for c in page)
            sizes.append(len(page))
            if after is None:
                break
    assert seen == expected
    assert sizes[:-1] == [2] * (len(sizes) - 1), "every page but the last is full"
    # A bound on the work of one page: it comes back short, with a cursor to go on from.
    with db.session(write=False) as s:
        page, after = queue_page(s, boss, STATES, limit=2, keep=lambda c: False, max_batches=2)
    assert page == []
    assert after is not None


def test_a_state_the_calendar_moves_on_by_itself_is_nobodys_work_unless_it_sets_a_deadline() -> None:
    running = validate(
        WorkflowDefinition(
            key="running",
            version=1,
            states=("active", "review", "closed"),
            initial="active",
            terminal=frozenset({"closed"}),
            transitions=(
                transition("start_review", "active", "review", by=[Role.SYSTEM, Role.TOWNSHIP_OFFICER]),
                transition("flag_late", "review", None, by=[Role.SYSTEM]),
                transition("close", ("active", "review"), "closed", by=[Role.TOWNSHIP_OFFICER]),
            ),
            timers=(
                Timer("active", "start_review", lambda _c: Delay(12, Unit.MONTHS)),
                Timer("review", "flag_late", lambda _c: Delay(10, Unit.DAYS)),
            ),
        )
    )
    assert waiting_states(running) == {"active"}, "a flag does not move the case: the review is still work"
    assert actionable_states([running]) == {Role.TOWNSHIP_OFFICER: frozenset({"review"})}
    dated = replace(running, deadlines=(Deadline("active", lambda _c: Delay(5, Unit.DAYS)),))
    assert actionable_states([dated]) == {Role.TOWNSHIP_OFFICER: frozenset({"active", "review"})}


def test_PF3_a_queue_of_several_states_merges_index_ranges_and_sorts_nothing_of_the_township(
    db: Database, now: datetime
) -> None:
    """Each (region, state) is one index range in (deadline, id) order; SQLite merges them as it reads
    them (no temporary B-tree), PostgreSQL stops each at the limit before merging them, so what is
    ordered is at most (ranges × limit) rows however many cases the township holds."""
    officer = Actor(username="t", grants=(Grant(Role.TOWNSHIP_OFFICER, TOWNSHIP),))
    assert len(STATES[Role.TOWNSHIP_OFFICER]) > 1
    for undated in (False, True):
        for after in (None, Cursor(None if undated else now, 7)):
            query = queue_query(officer, STATES, limit=51, after=after, undated=undated, postgres=not db.is_sqlite)
            compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
            with db.engine.connect() as conn:
                if db.is_sqlite:
                    plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))
                    assert "MERGE (UNION ALL)" in plan, plan
                    assert "TEMP B-TREE" not in plan, plan
                    assert "SCAN cases" not in plan, plan
                else:
                    conn.execute(text("SET enable_seqscan = off"))
                    plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
                    assert "Seq Scan" not in plan, plan
                    scans = plan.count("Index Scan using ix_cases_township_queue")
                    assert scans == len(STATES[Role.TOWNSHIP_OFFICER]), plan
                    assert plan.count("Limit") == scans + 1, "every range stops at the limit: " + plan
