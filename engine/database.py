"""The database: one engine per URL, its connection settings, and the unit of work."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

from engine.chainhead import forget_head, hold_head
from engine.statements import RawStatement

_BEGIN_IMMEDIATE = RawStatement(text("BEGIN IMMEDIATE"))
_BEGIN = RawStatement(text("BEGIN"))
# PostgreSQL: a batch takes the audit chain's head first, before any row an act of it will lock. Every
# write appends to the chain, so batches of different processes queue here holding nothing else, and
# two batches can never wait on each other (an act locking a case, then waiting for the head that a
# batch holding the head's next act on that case would need).
# The head read there is handed to the batch's first append (engine.chainhead), which so
# reads it no second time; on SQLite the batch's BEGIN IMMEDIATE already holds the database.
_LOCK_CHAIN = RawStatement(text("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"))
_READ_CHAIN = RawStatement(text("SELECT seq, hash FROM audit_head WHERE id = 1"))


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
        self._owner: int | None = None

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._held and self._owner == me:
                raise RuntimeError(
                    "a write unit of work was opened inside another on the same thread; "
                    "it would wait for itself: do the work in the unit already open"
                )
            if not self._held:
                self._held = True
                self._owner = me
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            self._owner = me
            return True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        self._owner = me
        return True  # handed over between the timeout and the check: it is ours now

    def has_waiters(self) -> bool:
        with self._mutex:
            return bool(self._waiters)

    def release(self) -> None:
        with self._mutex:
            self._owner = None
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes on; _held stays True
            else:
                self._held = False


class _Batch:
    """Units of work sharing one transaction and its one commit (group commit)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.size = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


# A batch commits when no writer is waiting for the lock, or at this many units (a bound on the
# latency the first unit of a batch can be kept waiting for the last).
GROUP_COMMIT_MAX = 64


class Database:
    """One engine per URL, and the unit of work (`session`).

    Writers queue in-process on one lock. With group commit (the default), the writers that queue
    while one is in its transaction join that transaction, each in a savepoint of its own, and the
    last of them commits for all: acts arriving together share one flush. Without it, each writer
    commits alone (on SQLite still one at a time, through the lock; on PostgreSQL side by side)."""

    def __init__(self, url: str, *, echo: bool = False, group_commit: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = make_engine(url, echo=echo)
        self._immediate = self.engine.execution_options(aidflow_immediate=True)
        # SQLite allows one writer; rather than let writers collide and fall into the busy
        # handler's sleeping back-off (p99 ≈ 750 ms at 8 clients), they queue on this lock and
        # open their transaction with BEGIN IMMEDIATE only once they hold it.
        self._write_lock = _FairLock()
        self.group_commit = group_commit
        self._batch: _Batch | None = None
        self._writer: Connection | None = None  # group commit's connection, kept between batches

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any exception.

        With group commit, the block's work is done in a transaction shared with the writers queued
        behind it (in a savepoint of its own unless it opened the transaction); the block returns only
        once that transaction is committed (and raises if the commit fails), and an exception inside
        it rolls back its own work alone."""
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

    def _open_batch(self) -> _Batch:
        """A transaction begun on the writer's connection. Writers take turns on the lock, so one
        connection serves them all and stays checked out: no pool checkout, reset or pre-ping per
        batch. Nothing is written before the batch is open, so when the kept connection has gone
        stale (the server restarted, the backend was ended), it is dropped and the batch opened once
        more on a new one."""
        for attempt in (1, 2):
            conn = self._writer
            if conn is None or conn.closed or conn.invalidated:
                conn = self._writer = (self._immediate if self.is_sqlite else self.engine).connect()
            try:
                conn.begin()  # BEGIN IMMEDIATE on SQLite (make_engine's begin hook)
                cursor = (_READ_CHAIN if self.is_sqlite else _LOCK_CHAIN).execute(conn)
                head = cursor.fetchone()
                cursor.close()
                if head is not None:  # else the first append says the head is missing
                    hold_head(conn, int(head[0]), str(head[1]))
            except DBAPIError:
                self._drop_writer()
                if attempt == 2:
                    raise
            except BaseException:
                self._drop_writer()
                raise
            else:
                return _Batch(conn)
        raise AssertionError("unreachable")

    def _drop_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            try:
                forget_head(conn)
                conn.invalidate()  # not back into the pool: its state is unknown
            finally:
                conn.close()

    def _end_batch(self, batch: _Batch, *, commit: bool) -> None:
        """Commit (or roll back) the batch's transaction, keeping the connection for the next one."""
        try:
            if commit:
                try:
                    batch.conn.commit()
                except BaseException as exc:
                    batch.error = exc
                    batch.conn.rollback()
            else:
                batch.conn.rollback()
        except BaseException:
            self._drop_writer()
            if batch.error is None:
                raise
        finally:
            if batch.error is not None:
                self._drop_writer()
            batch.done.set()

    def _grouped(self) -> Iterator[Session]:
        if not self._write_lock.acquire(timeout=60):
            raise TimeoutError("database write lock not obtained within 60 s")
        batch = self._batch
        opened = batch is None
        failed: BaseException | None = None
        try:
            if batch is None:
                batch = self._batch = self._open_batch()
            batch.size += 1
            # The act that opens the transaction needs no savepoint: if it fails, nothing else is in
            # the transaction yet, and rolling the whole of it back is rolling back that act alone.
            session = Session(
                bind=batch.conn,
                expire_on_commit=False,
                join_transaction_mode="rollback_only" if opened else "create_savepoint",
            )
            try:
                yield from _unit_of_work(session)
            finally:
                session.close()
        except BaseException as exc:
            failed = exc
        finally:
            try:
                if batch is not None and opened and failed is not None:
                    self._batch = None  # rolled back whole with its only act: the next writer opens anew
                    self._end_batch(batch, commit=False)
                elif batch is not None and (batch.size >= GROUP_COMMIT_MAX or not self._write_lock.has_waiters()):
                    self._batch = None
                    self._end_batch(batch, commit=True)
            finally:
                self._write_lock.release()
        if failed is not None:
            raise failed  # its work was rolled back: nothing of it is in the batch
        assert batch is not None
        batch.done.wait()
        if batch.error is not None:
            raise RuntimeError("the shared transaction did not commit; nothing of this act was kept") from batch.error

    def dispose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
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
        engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)
        _forget_head_on_end(engine)
        return engine
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
    _forget_head_on_end(engine)

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


def _forget_head_on_end(engine: Engine) -> None:
    """A head held by a transaction (engine.chainhead) is true until it ends, or until a
    savepoint whose appends moved it rolls back."""

    def forget(conn: Connection, *_args: Any) -> None:
        forget_head(conn)

    for name in ("begin", "commit", "rollback", "rollback_savepoint"):
        event.listen(engine, name, forget)


def durability_settings(db: Database) -> dict[str, str]:
    """The settings money and audit depend on, read back from the live database."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            return {"journal_mode": str(mode), "synchronous": {2: "FULL", 3: "EXTRA"}.get(int(sync or 0), str(sync))}
        commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        return {"synchronous_commit": str(commit)}
