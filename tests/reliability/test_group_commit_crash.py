"""A process killed while its writers' acts wait in a group-commit batch loses no act it acknowledged.

tests/reliability/group_commit_child.py runs 8 writers through group commit (the default) and records
each act it was told is durable. It is SIGKILLed at the moment a batch's commit begins (its acts done,
the flush not yet asked for), and at random moments from outside. After each kill: every acknowledged
act is in the database, the acts of the batch that was cut off are not (the cut-off batch is never
empty, so something unacknowledged is lost while nothing acknowledged is), each kept act has exactly
its one audit entry and the chain verifies. On the suite's database."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.auditlog import verify_log
from engine.database import Database
from engine.tables import AuditEntry, Case
from tests.reliability.group_commit_child import CASES_PER_WRITER, WRITERS
from tests.tally import record

CASES = WRITERS * CASES_PER_WRITER


def _run_child(url: str, workdir: Path, kill_at: int, kill_after: float | None) -> int:
    log = open(workdir / "child.log", "w")  # noqa: SIM115 (closed below; the child writes to it)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.group_commit_child", url, str(workdir), str(kill_at)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if kill_after is not None:
            deadline = time.monotonic() + 60
            while not (workdir / "ready").exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(kill_after)
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
        return child.wait(timeout=120)
    finally:
        log.close()


def _check(url: str, workdir: Path) -> tuple[int, int]:
    ids = [int(x) for x in (workdir / "cases").read_text().split()]
    acked = {int(x) for x in (workdir / "acks").read_text().split()} if (workdir / "acks").exists() else set()
    db = Database(url)
    try:
        with db.session(write=False) as s:
            states = dict(s.execute(select(Case.id, Case.state).where(Case.id.in_(ids))).all())  # type: ignore[attr-defined]
            moved = {i for i, state in states.items() if state == "review"}
            assert acked <= moved, f"acknowledged acts lost: {sorted(acked - moved)[:10]}"
            assert set(states.values()) <= {"draft", "review"}
            submits = s.execute(
                select(AuditEntry.case_id, func.count())
                .where(AuditEntry.action == "submit")
                .group_by(AuditEntry.case_id)
            ).all()
            assert dict(submits) == dict.fromkeys(moved, 1), "each kept act has exactly its one audit entry"
            verdict = verify_log(s)
            assert verdict.ok, verdict
    finally:
        db.dispose()
    return len(acked), len(moved)


@pytest.mark.parametrize("kill_at", [1, 3, 9])
def test_a_kill_as_a_batch_begins_its_commit_loses_only_unacknowledged_acts(
    db_url: str, tmp_path: Path, kill_at: int
) -> None:
    code = _run_child(db_url, tmp_path, kill_at, kill_after=None)
    assert code == -signal.SIGKILL, (
        f"the child was to die at commit {kill_at}: exit {code}, {(tmp_path / 'child.log').read_text()[-2000:]}"
    )
    acked, moved = _check(db_url, tmp_path)
    assert moved < CASES, "the batch cut off at its commit held acts, and none of them was kept"
    assert acked <= moved
    record("group commit", kills_at_commit=1)


@pytest.mark.parametrize("delay", [0.02, 0.08, 0.2, 0.35])
def test_a_kill_from_outside_while_writers_act_loses_no_acknowledged_act(
    db_url: str, tmp_path: Path, delay: float
) -> None:
    code = _run_child(db_url, tmp_path, 0, kill_after=delay)
    assert code == -signal.SIGKILL, f"the child was to be killed while acting: exit {code}"
    acked, moved = _check(db_url, tmp_path)
    assert acked <= moved
    record("group commit", kills_from_outside=1)
