"""Racing writers: one act wins per version, the others are told the case moved; the chain never forks.

Threads meet at a barrier so the race is real. Where writers are not queued in-process (PostgreSQL
with group commit off) they meet after each has read the case, so every loser is caught by the
version-checked UPDATE (waiting on the winner's row lock). Where the process's writer lock admits one
unit of work at a time (SQLite; group commit, the default, on either database) they meet just before
opening it and every loser reads the winner's version. The two-officer race runs both ways.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine.access import Actor
from engine.auditlog import verify_log
from engine.database import Database
from engine.errors import StaleVersion
from engine.tables import AuditEntry, Case
from tests.cast import World
from tests.engine.support import act, count, open_case, walk_to


def _race(
    db: Database, case_id: int, barrier: threading.Barrier, actor: Actor, now: datetime
) -> tuple[str, int, tuple[int, int | None] | None]:
    """One attempt at 'pass' on version 2: 'won' or 'stale', the version the case showed when firing,
    and for the stale the versions the refusal names."""
    queued = db.is_sqlite or db.group_commit
    if queued:
        barrier.wait(timeout=30)
    try:
        with db.session() as s:
            case = s.get(Case, case_id)
            assert case is not None
            if not queued:
                barrier.wait(timeout=30)
            seen = case.version
            act(s, case, "pass", actor, now, version=2)
        return "won", seen, None
    except StaleVersion as stale:
        return "stale", seen, (stale.expected, stale.actual)


def _in_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            target(k)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    if errors:
        raise errors[0]


def _cases_in_review(db: Database, world: World, now: datetime, n: int) -> list[int]:
    ids = []
    with db.session() as s:
        for i in range(n):
            case = open_case(s, world, now, reference=f"R-{i:03d}")
            walk_to(s, case, "review", world, now)
            assert case.id is not None
            assert case.version == 2
            ids.append(case.id)
    return ids


@pytest.mark.parametrize("grouped", [True, False], ids=["group-commit", "each-act-alone"])
def test_two_officers_passing_the_same_version_at_once_one_wins_and_the_other_is_stale(
    db: Database, world: World, now: datetime, grouped: bool
) -> None:
    second = world.clerk2
    (case_id,) = _cases_in_review(db, world, now, 1)
    barrier = threading.Barrier(2)
    results: dict[int, tuple[str, int, tuple[int, int | None] | None]] = {}
    racing = Database(db.url, group_commit=grouped)

    def racer(k: int) -> None:
        results[k] = _race(racing, case_id, barrier, (world.clerk, second)[k], now)

    try:
        _in_threads(2, racer)
    finally:
        racing.dispose()
    assert sorted(outcome for outcome, _, _ in results.values()) == ["stale", "won"]
    assert [named for outcome, _, named in results.values() if outcome == "stale"] == [(2, 3)]
    if not (racing.is_sqlite or grouped):
        assert [seen for _, seen, _ in results.values()] == [2, 2]  # the UPDATE, not a re-read, refused the loser
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.state, case.version) == ("notice", 3)
        passes = s.scalar(select(func.count()).where(AuditEntry.case_id == case_id, AuditEntry.action == "pass"))
        assert passes == 1
        verdict = verify_log(s)
        assert verdict.ok, verdict


def test_fifty_cases_raced_by_four_threads_move_once_each_and_the_chain_does_not_fork(
    db: Database, world: World, now: datetime
) -> None:
    ids = _cases_in_review(db, world, now, 50)
    with db.session(write=False) as s:
        entries_before = count(s, AuditEntry)
    barrier = threading.Barrier(4)
    wins: Counter[int] = Counter()
    stale: Counter[int] = Counter()
    lock = threading.Lock()

    def racer(k: int) -> None:
        rng = random.Random(k)
        for case_id in ids:
            outcome, _, named = _race(db, case_id, barrier, world.clerk, now)
            with lock:
                (wins if outcome == "won" else stale)[case_id] += 1
                assert named in (None, (2, 3))
            if rng.random() < 0.2:
                threading.Event().wait(rng.random() / 1000)  # vary who arrives first

    _in_threads(4, racer)
    assert all(wins[case_id] == 1 for case_id in ids), wins
    assert sum(stale.values()) == 3 * len(ids)
    with db.session(write=False) as s:
        states = Counter(s.scalars(select(Case.state).where(Case.id.in_(ids))))  # type: ignore[union-attr]
        assert states == {"notice": 50}
        assert count(s, AuditEntry) == entries_before + 50  # one entry per successful act, none per refusal
        per_case = Counter(s.scalars(select(AuditEntry.case_id).where(AuditEntry.action == "pass")))
        assert per_case == dict.fromkeys(ids, 1)
        forks = s.scalar(
            select(func.count()).select_from(
                select(AuditEntry.prev_hash).group_by(AuditEntry.prev_hash).having(func.count() > 1).subquery()
            )
        )
        assert forks == 0
        verdict = verify_log(s)
        assert verdict.ok, verdict
        assert verdict.entries == entries_before + 50
