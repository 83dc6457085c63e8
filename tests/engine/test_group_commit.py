"""Group commit (engine.database.Database(group_commit=True), the default): acts that queue for the
process's writer share one transaction and one commit, each in its own savepoint. A refused guard or a
stale version rolls back that act alone and its caller hears its own error, also when it is the act
that opened the transaction; no caller hears success before the commit that holds its act; a commit
that fails loses every act of its batch, and none of their callers was told it succeeded. On the
suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select

from engine.auditlog import verify_log
from engine.database import Database
from engine.errors import GuardRejected, StaleVersion
from engine.tables import AuditEntry, Case
from tests.cast import World, make_world
from tests.engine.support import act, open_case

WRITERS = 8


@pytest.fixture
def gdb(db_url: str) -> Iterator[Database]:
    database = Database(db_url, group_commit=True)
    yield database
    database.dispose()


def _commits(db: Database) -> list[float]:
    """The moments the engine's connections commit, as they happen."""
    moments: list[float] = []
    event.listen(db.engine, "commit", lambda _conn: moments.append(time.monotonic()))
    return moments


def _cases(db: Database, world: World, now: datetime) -> list[int]:
    """Draft cases, and one moved to review (where 'reject' needs a reason)."""
    ids = []
    for i in range(WRITERS):
        with db.session() as s:
            case = open_case(s, world, now, reference=f"G-{i}")
            if i == 1:
                act(s, case, "submit", world.clerk, now)
            assert case.id is not None
            ids.append(case.id)
    return ids


class ChangedItsMind(Exception):
    """Raised by a unit of work after its act was written: the act is rolled back with its savepoint."""


def _batch_of_writers(
    db: Database, world: World, now: datetime, ids: list[int], *, stale: int = 2, regret: int | None = None
) -> dict[int, tuple[str, float]]:
    """WRITERS threads act at once; the first holds its transaction until all others queue behind it.
    Writer 1 tries a refused act, writer `stale` a stale version; the rest submit their draft, and
    writer `regret` fails after its act and its audit entry were written."""
    results: dict[int, tuple[str, float]] = {}
    inside = threading.Event()

    def unit(k: int) -> None:
        try:
            with db.session() as s:
                if k == 0:
                    inside.set()
                    deadline = time.monotonic() + 20
                    while len(db._write_lock._waiters) < WRITERS - 1 and time.monotonic() < deadline:
                        time.sleep(0.005)
                case = s.get(Case, ids[k])
                assert case is not None
                if k == 1:
                    act(s, case, "reject", world.clerk, now, data={})
                else:
                    act(s, case, "submit", world.clerk, now, version=case.version - 1 if k == stale else None)
                if k == regret:
                    raise ChangedItsMind
            results[k] = ("ok", time.monotonic())
        except (GuardRejected, StaleVersion, ChangedItsMind) as refused:
            results[k] = (type(refused).__name__, time.monotonic())
        except Exception as other:  # the shared commit failed
            results[k] = (type(other).__name__, time.monotonic())

    first = threading.Thread(target=unit, args=(0,))
    first.start()
    assert inside.wait(10)
    rest = [threading.Thread(target=unit, args=(k,)) for k in range(1, WRITERS)]
    for t in rest:
        t.start()
    for t in [first, *rest]:
        t.join(60)
    return results


def _states(db: Database, ids: list[int]) -> dict[int, tuple[str, int]]:
    with db.session(write=False) as s:
        rows = s.execute(select(Case.id, Case.state, Case.version).where(Case.id.in_(ids))).all()  # type: ignore[union-attr,attr-defined]
    return {i: (state, version) for i, state, version in rows}


def test_acts_that_queue_share_one_commit_and_each_refusal_is_its_own(gdb: Database, now: datetime) -> None:
    world = make_world(gdb)
    ids = _cases(gdb, world, now)
    commits = _commits(gdb)
    results = _batch_of_writers(gdb, world, now, ids)
    assert len(commits) == 1, f"{WRITERS} acts queued together are committed once, not {len(commits)} times"
    assert results[1][0] == "GuardRejected", "a refused guard is that act's own error"
    assert results[2][0] == "StaleVersion", "a stale version is that act's own error"
    ok = [k for k, (outcome, _) in results.items() if outcome == "ok"]
    assert sorted(ok) == [0, *range(3, WRITERS)]
    for k in ok:
        assert results[k][1] >= commits[0], "no caller hears success before the commit holding its act"
    states = _states(gdb, ids)
    assert all(states[ids[k]] == ("review", 2) for k in ok)
    assert states[ids[1]] == ("review", 2), "the refused act left its case as it was"
    assert states[ids[2]] == ("draft", 1), "the stale act left its case as it was"
    with gdb.session(write=False) as s:
        verdict = verify_log(s)
        creates_and_moves = WRITERS + 1 + len(ok)
        assert verdict.ok
        assert verdict.entries == creates_and_moves
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == creates_and_moves


def test_a_batch_whose_commit_fails_keeps_none_of_its_acts_and_tells_every_caller(gdb: Database, now: datetime) -> None:
    world = make_world(gdb)
    ids = _cases(gdb, world, now)
    before = _states(gdb, ids)
    with gdb.session(write=False) as s:
        entries = verify_log(s).entries

    def refuse(_conn: Any) -> None:
        raise OSError("the disk refused the flush")

    event.listen(gdb.engine, "commit", refuse)
    try:
        results = _batch_of_writers(gdb, world, now, ids)
    finally:
        event.remove(gdb.engine, "commit", refuse)
    assert all(outcome != "ok" for outcome, _ in results.values()), results
    assert results[1][0] == "GuardRejected"
    assert results[2][0] == "StaleVersion"
    assert {results[k][0] for k in (0, *range(3, WRITERS))} == {"RuntimeError"}
    assert _states(gdb, ids) == before
    with gdb.session(write=False) as s:
        verdict = verify_log(s)
    assert verdict.ok
    assert verdict.entries == entries


def test_the_act_that_opened_the_transaction_is_refused_alone(gdb: Database, now: datetime) -> None:
    """The first act runs without a savepoint of its own: when it fails, its transaction is rolled back
    whole, and the acts queued behind it open the next one and are all kept."""
    world = make_world(gdb)
    ids = _cases(gdb, world, now)
    commits = _commits(gdb)
    results = _batch_of_writers(gdb, world, now, ids, stale=0)
    assert results[0][0] == "StaleVersion", "the opener's stale version is its own error"
    assert results[1][0] == "GuardRejected"
    ok = [k for k, (outcome, _) in results.items() if outcome == "ok"]
    assert sorted(ok) == list(range(2, WRITERS))
    assert len(commits) == 1, "the acts queued behind the refused opener share the next transaction"
    states = _states(gdb, ids)
    assert states[ids[0]] == ("draft", 1), "the refused opener left its case as it was"
    assert all(states[ids[k]] == ("review", 2) for k in ok)
    with gdb.session(write=False) as s:
        verdict = verify_log(s)
    assert verdict.ok
    assert verdict.entries == WRITERS + 1 + len(ok)


def test_an_act_rolled_back_after_its_audit_entry_leaves_the_chain_whole(gdb: Database, now: datetime) -> None:
    """The batch hands the chain's head from one append to the next without reading it again; an
    act that fails after its entry was written takes the entry back with its savepoint, and the
    next act appends after the head as it stands, not after the entry that is gone."""
    world = make_world(gdb)
    ids = _cases(gdb, world, now)
    commits = _commits(gdb)
    results = _batch_of_writers(gdb, world, now, ids, regret=3)
    assert results[3][0] == "ChangedItsMind"
    ok = [k for k, (outcome, _) in results.items() if outcome == "ok"]
    assert sorted(ok) == [0, *range(4, WRITERS)]
    assert len(commits) == 1
    assert _states(gdb, ids)[ids[3]] == ("draft", 1), "the act that failed after writing left its case as it was"
    with gdb.session(write=False) as s:
        verdict = verify_log(s)
        assert verdict.ok, verdict
        assert verdict.entries == WRITERS + 1 + len(ok)
        seqs = s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()  # type: ignore[arg-type]
    assert seqs == list(range(1, len(seqs) + 1)), "no seq taken by the rolled-back entry is missing"


def test_a_writer_connection_gone_stale_is_replaced_before_the_next_batch(
    gdb: Database, now: datetime, db_url: str
) -> None:
    """Group commit keeps its connection between batches. When it has died under it (the server ended
    the backend, or the file handle was closed), the next unit of work opens on a new one and nothing
    is lost."""
    world = make_world(gdb)
    with gdb.session() as s:
        first = open_case(s, world, now, reference="G-before")
    kept = gdb._writer
    assert kept is not None
    assert not kept.closed
    if gdb.is_sqlite:
        kept.connection.dbapi_connection.close()  # type: ignore[union-attr]
    else:
        pid = kept.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
        other = Database(db_url)
        try:
            with other.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        finally:
            other.dispose()
    with gdb.session() as s:
        second = open_case(s, world, now, reference="G-after")
        act(s, second, "submit", world.clerk, now)
    assert gdb._writer is not kept
    states = _states(gdb, [first.id or 0, second.id or 0])
    assert states[first.id or 0] == ("draft", 1)
    assert states[second.id or 0] == ("review", 2)
    with gdb.session(write=False) as s:
        verdict = verify_log(s)
    assert verdict.ok
    assert verdict.entries == 3


def test_a_unit_opened_inside_another_on_the_same_thread_is_refused_at_once(gdb: Database) -> None:
    with gdb.session(), pytest.raises(RuntimeError, match="inside another"), gdb.session():
        pass


def test_a_lone_writer_commits_at_once(gdb: Database, now: datetime) -> None:
    world = make_world(gdb)
    commits = _commits(gdb)
    with gdb.session() as s:
        case = open_case(s, world, now, reference="G-alone")
    assert len(commits) == 1
    with gdb.session(write=False) as s:
        assert s.get(Case, case.id) is not None
