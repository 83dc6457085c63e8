"""Fixtures of the engine's tests: the shared world, and a thirty-entry audit chain, on the fresh database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engine import auditlog
from engine.auditlog import Checkpoint, make_checkpoint, verify_log
from engine.database import Database
from engine.tables import Case
from engine.timers import run_due
from tests.cast import World, make_world
from tests.engine.support import CAL, act, entries, open_case, walk_to
from tests.engine.toy import TOY


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


@dataclass(frozen=True)
class Chain:
    n: int  # entries in the log
    target: int  # a timer-fired entry in the middle: every column holds a value
    checkpoint: Checkpoint  # signed when the log held `checkpoint.seq` entries
    key: Ed25519PrivateKey


@pytest.fixture
def chain(db: Database, world: World, now: datetime) -> Chain:
    """Thirty entries: cases opened and moved by officers, timers fired by the sweep, logins."""
    key = Ed25519PrivateKey.generate()
    with db.session() as s:
        cases = [open_case(s, world, now, reference=f"C-{i}") for i in range(6)]
        for case in cases:
            walk_to(s, case, "notice", world, now)
        ids = [case.id for case in cases]
        for who in ("clerk", "boss"):
            auditlog.append(s, at=now, actor=who, role="login", action="login")
    run_due(db.session, now=now + timedelta(days=8), resolve=lambda s, c: (TOY, CAL, {}))
    with db.session() as s:
        checkpoint = make_checkpoint(s, key, now + timedelta(days=8))
        for i, case_id in enumerate(ids[:3]):
            case = s.get(Case, case_id)
            assert case is not None
            act(s, case, "approve", world.boss, now + timedelta(days=9), data={"amount_fen": 1000 * (i + 1)})
        auditlog.append(s, at=now + timedelta(days=9), actor="inspector", role="login", action="login")
        rows = entries(s)
        timer_fired = [e.seq for e in rows if e.action == "notice_ends"]
        assert len(rows) == 30
        assert checkpoint.seq == 26
        assert verify_log(s).ok
    return Chain(n=len(rows), target=timer_fired[2], checkpoint=checkpoint, key=key)
