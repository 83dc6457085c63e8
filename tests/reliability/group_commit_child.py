"""The process tests/reliability/test_group_commit_crash.py kills: WRITERS threads submit drafts through
group commit, and each writes the case's id to an acknowledgement file (flushed and fsynced) only once
its `with db.session()` has returned, that is once it was told its act is durable.

    python -m tests.reliability.group_commit_child URL WORKDIR KILL_AT_COMMIT

KILL_AT_COMMIT > 0: the process SIGKILLs itself as the engine begins that commit of the acting phase
(after the batch's acts, before the database is asked to commit them); 0: it runs until killed from
outside."""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from engine.database import Database
from engine.tables import Case
from tests.cast import make_world
from tests.engine.support import act, open_case

WRITERS = 8
CASES_PER_WRITER = 40
NOW = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)


def main(url: str, workdir: Path, kill_at: int) -> None:
    db = Database(url, group_commit=True)
    world = make_world(db)
    ids: list[int] = []
    with db.session() as s:
        for i in range(WRITERS * CASES_PER_WRITER):
            case = open_case(s, world, NOW, reference=f"K-{i}")
            assert case.id is not None
            ids.append(case.id)
    _write_durably(workdir / "cases", "".join(f"{i}\n" for i in ids))
    commits = 0

    def on_commit(_conn: Any) -> None:
        nonlocal commits
        commits += 1
        if commits == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(db.engine, "commit", on_commit)
    acks = open(workdir / "acks", "a", encoding="ascii")  # noqa: SIM115 (held open by every writer)
    ack_lock = threading.Lock()

    def writer(k: int) -> None:
        for case_id in ids[k::WRITERS]:
            with db.session() as s:
                case = s.get(Case, case_id)
                assert case is not None
                act(s, case, "submit", world.clerk, NOW)
            with ack_lock:  # told it is durable: only now may the caller say so
                acks.write(f"{case_id}\n")
                acks.flush()
                os.fsync(acks.fileno())

    (workdir / "ready").touch()
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _write_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
