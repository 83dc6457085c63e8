"""The database: one engine per URL, its connection settings, and the unit of work."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

from engine.statements import RawStatement

_BEGIN_IMMEDIATE = RawStatement(text("BEGIN IMMEDIATE"))
_BEGIN = RawStatement(text("BEGIN"))


class _FairLock:
    """A lock handed to waiters in arrival order.

    A plain Lock lets the thread that releases it take it straight back while the others are
    still waking, so under load one writer can starve the rest for many rounds (p99 ≈ 100 ms at
    8 writers); handing it over in turn keeps the wait near (writers ahead) × (one transaction).
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over between the timeout and the check: it is ours now

    def has_waiters(self) -> bool:
        with self._mutex:
            return bool(self._waiters)

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes on; _held stays True
            else:
                self._held = False


class _Batch:
    """Units of work sharing one SQLite transaction and its one commit (group commit)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.size = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


# A batch commits when no writer is waiting for the lock, or at this many units (a bound on the
# latency the first unit of a batch can be kept waiting for the last).
GROUP_COMMIT_MAX = 64


class Database:
    """One engine per URL. On SQLite, writers are serialized in-process (see `session`)."""

    def __init__(self, url: str, *, echo: bool = False, group_commit: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = make_engine(url, echo=echo)
        self._immediate = self.engine.execution_options(aidflow_immediate=True)
        # SQLite allows one writer; rather than let writers collide and fall into the busy
        # handler's sleeping back-off (p99 ≈ 750 ms at 8 clients), they queue on this lock and
        # open their transaction with BEGIN IMMEDIATE only once they hold it.
        self._write_lock = _FairLock()
        # Group commit (SQLite): writers that queue on the lock while one is in its transaction join
        # that transaction, each in a savepoint of its own, and the last of them commits for all.
        self.group_commit = group_commit and self.is_sqlite
        self._batch: _Batch | None = None

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any exception.

        With group commit on (SQLite), the block's work is done in a savepoint of a transaction shared
        with the writers queued behind it; the block returns only once that transaction is committed
        (and raises if the commit fails), and an exception inside it rolls back its own savepoint alone."""
        if self.group_commit and write:
            yield from self._grouped()
            return
        if self.is_sqlite and write:
            if not self._write_lock.acquire(timeout=60):
                raise TimeoutError("database write lock not obtained within 60 s")
            try:
                with Session(self._immediate, expire_on_commit=False) as session:
                    yield from _unit_of_work(session)
            finally:
                self._write_lock.release()
        else:
            with Session(self.engine, expire_on_commit=False) as session:
                yield from _unit_of_work(session)

    def _grouped(self) -> Iterator[Session]:
        if not self._write_lock.acquire(timeout=60):
            raise TimeoutError("database write lock not obtained within 60 s")
        batch = self._batch
        failed: BaseException | None = None
        try:
            if batch is None:
                conn = self._immediate.connect()
                conn.begin()  # BEGIN IMMEDIATE (make_engine's begin hook)
                batch = self._batch = _Batch(conn)
            batch.size += 1
            session = Session(bind=batch.conn, expire_on_commit=False, join_transaction_mode="create_savepoint")
            try:
                yield from _unit_of_work(session)
            finally:
                session.close()
        except BaseException as exc:
            failed = exc
        finally:
            if batch is not None and (batch.size >= GROUP_COMMIT_MAX or not self._write_lock.has_waiters()):
                self._batch = None
                try:
                    batch.conn.commit()
                except BaseException as exc:
                    batch.error = exc
                    batch.conn.rollback()
                finally:
                    batch.conn.close()
                    batch.done.set()
            self._write_lock.release()
        if failed is not None:
            raise failed  # its savepoint was rolled back: nothing of it is in the batch
        assert batch is not None
        batch.done.wait()
        if batch.error is not None:
            raise RuntimeError("the shared transaction did not commit; nothing of this act was kept") from batch.error

    def dispose(self) -> None:
        self.engine.dispose()


def _unit_of_work(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def make_engine(url: str, *, echo: bool) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun explicitly below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("aidflow_immediate", False)
        (_BEGIN_IMMEDIATE if immediate else _BEGIN).execute(conn).close()

    return engine


def durability_settings(db: Database) -> dict[str, str]:
    """The settings money and audit depend on, read back from the live database."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            return {"journal_mode": str(mode), "synchronous": {2: "FULL", 3: "EXTRA"}.get(int(sync or 0), str(sync))}
        commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        return {"synchronous_commit": str(commit)}
