"""The database set-up: SQLite writers queue in turn; durability settings read back."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from engine.database import Database, _FairLock, durability_settings


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_the_writer_lock_is_handed_to_waiters_in_the_order_they_came() -> None:
    lock = _FairLock()
    assert lock.acquire(timeout=1)
    served: list[str] = []

    def writer(name: str) -> None:
        assert lock.acquire(timeout=10)
        served.append(name)
        lock.release()

    threads = []
    for name in "BCDEFG":
        threads.append(threading.Thread(target=writer, args=(name,)))
        threads[-1].start()
        _wait_for(lambda: len(lock._waiters) == len(threads))
    lock.release()
    for t in threads:
        t.join(timeout=10)
    assert served == list("BCDEFG")


def test_a_writer_that_gives_up_waiting_leaves_the_queue() -> None:
    lock = _FairLock()
    assert lock.acquire(timeout=1)
    got: list[bool] = []
    other = threading.Thread(target=lambda: got.append(lock.acquire(timeout=0.02)))
    other.start()
    other.join(5)
    assert got == [False], "another thread waiting past its timeout gives up"
    assert not lock._waiters
    lock.release()
    assert lock.acquire(timeout=0.02)
    lock.release()


def test_a_unit_opened_inside_another_on_the_same_thread_is_refused_not_waited_for() -> None:
    lock = _FairLock()
    assert lock.acquire(timeout=1)
    with pytest.raises(RuntimeError, match="inside another"):
        lock.acquire(timeout=0.02)
    lock.release()


def test_the_durability_that_money_and_audit_rely_on_is_in_force(db: Database) -> None:
    settings = durability_settings(db)
    if db.is_sqlite:
        assert settings == {"journal_mode": "wal", "synchronous": "FULL"}
    else:
        assert settings == {"synchronous_commit": "on"}


def test_eight_writers_on_one_database_all_commit(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (writer INTEGER, n INTEGER)"))
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for n in range(20):
                with db.session() as s:
                    s.execute(text("INSERT INTO scratch VALUES (:k, :n)"), {"k": k, "n": n})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with db.session(write=False) as s:
        assert s.execute(text("SELECT count(*) FROM scratch")).scalar() == 160


@pytest.mark.parametrize("write", [True, False])
def test_a_unit_of_work_rolls_back_on_any_exception(db: Database, write: bool) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (n INTEGER)"))

    def insert_then_interrupt() -> None:
        with db.session(write=write) as s:
            s.execute(text("INSERT INTO scratch VALUES (1)"))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        insert_then_interrupt()
    with db.session(write=False) as s:
        assert s.execute(text("SELECT count(*) FROM scratch")).scalar() == 0
