"""The kept counts of cases per (village, workflow, state) (PERFORMANCE-NOTES PF3): after any sequence
of opened cases, moves, refused and stale acts (rolled back with the act), and writers racing on
their own cases, they equal a recount of the cases; a queue's counts read them."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import func, select

from engine.access import SYSTEM, Actor
from engine.database import Database
from engine.errors import GuardRejected, StaleVersion
from engine.queue import actionable_states, queue_counts
from engine.tables import Case, CaseCount
from tests.cast import World
from tests.engine.support import act, open_case
from tests.engine.toy import TOY

_c = Case.__table__.c  # type: ignore[attr-defined]
_k = CaseCount.__table__.c  # type: ignore[attr-defined]

# What each toy state allows, who does it, and the data that passes its guards.
MOVES: dict[str, list[tuple[str, str, dict[str, object]]]] = {
    "draft": [("submit", "clerk", {})],
    "review": [("pass", "clerk", {}), ("reject", "clerk", {"reason": "材料不全"})],
    "notice": [("notice_ends", "system", {})],
    "decision": [("approve", "boss", {"amount_fen": 50_000}), ("send_back", "boss", {}), ("reject", "boss", {})],
}


def _kept(db: Database) -> dict[tuple[str, str, str], int]:
    with db.session(write=False) as s:
        rows = s.execute(select(_k.region_code, _k.workflow, _k.state, _k.n)).all()
    return {(r, w, st): int(n) for r, w, st, n in rows if n}


def _recount(db: Database) -> dict[tuple[str, str, str], int]:
    with db.session(write=False) as s:
        q = select(_c.region_code, _c.workflow, _c.state, func.count()).group_by(_c.region_code, _c.workflow, _c.state)
        return {(r, w, st): int(n) for r, w, st, n in s.execute(q).all()}


def _step(db: Database, world: World, case_id: int, rng: random.Random, now: datetime) -> str:
    """One random act on the case, in its own unit of work: 'moved', 'refused', 'stale' or 'done'."""
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        moves = MOVES.get(case.state)
        if not moves:
            return "done"
        action, who, data = rng.choice(moves)
        actor: Actor = SYSTEM if who == "system" else world.by(who)
        stale = rng.random() < 0.15
        try:
            act(s, case, action, actor, now, data=data, version=case.version - 1 if stale else None)
        except (GuardRejected, StaleVersion) as refused:
            s.rollback()
            return "stale" if isinstance(refused, StaleVersion) else "refused"
    return "moved"


def _open(db: Database, world: World, now: datetime, n: int, tag: str) -> list[int]:
    ids = []
    for i in range(n):
        with db.session() as s:
            ids.append(_id(open_case(s, world, now, reference=f"CC-{tag}-{i}")))
    return ids


def _id(case: Case) -> int:
    assert case.id is not None
    return case.id


def test_PF3_the_kept_counts_equal_a_recount_after_random_acts(db: Database, world: World, now: datetime) -> None:
    rng = random.Random(20261201)
    ids = _open(db, world, now, 12, "serial")
    assert _kept(db) == _recount(db)
    outcomes: dict[str, int] = {}
    for _ in range(150):
        outcome = _step(db, world, rng.choice(ids), rng, now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("moved", 0) > 20
    assert outcomes.get("stale", 0) > 0
    assert outcomes.get("refused", 0) > 0, "a refused guard rolls its act back, the counts with it"
    assert _kept(db) == _recount(db)


def test_PF3_the_kept_counts_hold_with_writers_racing(db: Database, world: World, now: datetime) -> None:
    ids = _open(db, world, now, 16, "race")
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        rng = random.Random(k)
        mine = ids[k::4]
        try:
            for _ in range(25):
                _step(db, world, rng.choice(mine), rng, now)
        except BaseException as exc:
            errors.append(exc)

    _threads(4, writer)
    assert errors == []
    assert _kept(db) == _recount(db)


def _threads(n: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


@pytest.mark.parametrize("who", ["clerk", "boss", "county"])
def test_PF3_a_queue_counts_from_the_kept_rows_what_a_count_of_its_cases_gives(
    db: Database, world: World, now: datetime, who: str
) -> None:
    rng = random.Random(7)
    ids = _open(db, world, now, 10, who)
    for _ in range(60):
        _step(db, world, rng.choice(ids), rng, now)
    states = actionable_states([TOY])
    actor = world.by(who)
    with db.session(write=False) as s:
        kept = queue_counts(s, actor, states)
        counted = queue_counts(s, actor, states, keep=lambda _case: True)
    assert kept == counted
    assert sum(kept.values()) > 0 or who == "county"


def test_PF3_counts_are_written_in_the_acts_transaction_and_undone_with_it(
    db: Database, world: World, now: datetime
) -> None:
    with db.session() as s:
        case_id = _id(open_case(s, world, now, reference="CC-undo"))
    before = _kept(db)
    with pytest.raises(RuntimeError, match="fails after the act"):
        _submit_then_fail(db, world, case_id, now)
    assert _kept(db) == before == _recount(db)


def _submit_then_fail(db: Database, world: World, case_id: int, now: datetime) -> None:
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        act(s, case, "submit", world.clerk, now)
        inside = dict(s.execute(select(_k.state, _k.n).where(_k.workflow == "toy")).all())
        assert inside.get("review") == 1
        assert inside.get("draft") == 0
        raise RuntimeError("the unit of work fails after the act")
