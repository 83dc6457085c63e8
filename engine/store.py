"""The runtime's tables (regions, users, grants, cases, audit, timers) and the database set-up."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    exc,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import Executable
from sqlmodel import Field, Session, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MAX_ID = 2**31 - 1  # ids are INTEGER columns: 32 bits on PostgreSQL


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Region(SQLModel, table=True):
    __tablename__ = "regions"

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    level: str = Field(max_length=10)
    parent_code: str | None = Field(default=None, foreign_key="regions.code", index=True, max_length=12)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    display_name: str = Field(default="", max_length=100)
    id_number_enc: str | None = Field(default=None, max_length=255)
    id_number_hash: str | None = Field(default=None, max_length=64, index=True)
    email: str | None = Field(default=None, max_length=255)
    active: bool = True
    created_at: datetime = _ts()


class RoleGrant(SQLModel, table=True):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "region_code"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    role: str = Field(max_length=32)
    region_code: str = Field(foreign_key="regions.code", max_length=12)
    granted_at: datetime = _ts()


class Case(SQLModel, table=True):
    """One application (案件) moving through a workflow; the audit log is its history."""

    __tablename__ = "cases"
    __table_args__ = (
        # Queue shapes: scope-equality column, then state, then the sort key, then id.
        Index("ix_cases_village_queue", "region_code", "state", "deadline", "id"),
        Index("ix_cases_township_queue", "township_code", "state", "deadline", "id"),
        Index("ix_cases_county_queue", "county_code", "state", "deadline", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=40)
    workflow_version: int
    reference: str = Field(max_length=40, unique=True)
    tracking_hash: str | None = Field(default=None, max_length=64, unique=True)
    region_code: str = Field(foreign_key="regions.code", max_length=12)
    township_code: str = Field(max_length=12)
    county_code: str = Field(max_length=12)
    state: str = Field(max_length=40)
    version: int = 1
    entered_version: int = 1
    state_entered_at: datetime = _ts()
    deadline: datetime | None = _ts(nullable=True)
    applicant_user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class AuditEntry(SQLModel, table=True):
    """One link of the hash chain. Never updated, never deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_case_seq", "case_id", "seq"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = _ts()
    actor: str = Field(max_length=64)
    role: str = Field(max_length=32)
    region_code: str = Field(default="", max_length=12)
    case_id: int | None = Field(default=None)
    action: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=40)
    to_state: str | None = Field(default=None, max_length=40)
    data: str = Field(sa_column=Column(Text, nullable=False))
    due_at: datetime | None = _ts(nullable=True)
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)


class AuditHead(SQLModel, table=True):
    """The chain's head: the single row every append locks, and a witness against truncation."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class TimerRow(SQLModel, table=True):
    __tablename__ = "timers"
    __table_args__ = (
        Index(
            "ix_timers_pending",
            "due_at",
            "id",
            sqlite_where=Column("fired_at").is_(None),
            postgresql_where=Column("fired_at").is_(None),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    action: str = Field(max_length=64)
    state: str = Field(max_length=40)
    entered_version: int
    due_at: datetime = _ts()
    fired_at: datetime | None = _ts(nullable=True)
    outcome: str | None = Field(default=None, sa_column=Column(String(500), nullable=True))


# --------------------------------------------------------------------------- database set-up


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

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes on; _held stays True
            else:
                self._held = False


class Database:
    """One engine per URL. On SQLite, writers are serialized in-process (see `session`)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: Engine = _make_engine(url, echo=echo)
        self._immediate = self.engine.execution_options(aidflow_immediate=True)
        # SQLite allows one writer; rather than let writers collide and fall into the busy
        # handler's sleeping back-off (p99 ≈ 750 ms at 8 clients), they queue on this lock and
        # open their transaction with BEGIN IMMEDIATE only once they hold it.
        self._write_lock = _FairLock()

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any exception."""
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

    def dispose(self) -> None:
        self.engine.dispose()


def _unit_of_work(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _make_engine(url: str, *, echo: bool) -> Engine:
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


# --------------------------------------------------------------------------- hot statements


class RawStatement:
    """A Core statement compiled once per dialect and run on the DBAPI cursor of a connection.

    For the few statements every transition runs: SQLAlchemy's per-execution work (cache key,
    compiled-cache lookup, execution context, result set-up) costs several times what SQLite takes
    to run them. The SQL is the statement's own, compiled by the dialect; each parameter goes
    through its column type's bind processor as Core would (UTC times, JSON), and driver errors
    are raised as SQLAlchemy's DBAPIError subclasses, as Core raises them. It runs inside the
    connection's open transaction and begins none itself. Results are the driver's rows,
    unprocessed: read only columns whose driver values need no conversion (integers, text).
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._by_dialect: dict[int, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(id(dialect))
        if found is None or found.dialect is not dialect:
            found = _Compiled(self.statement, dialect)
            self._by_dialect[id(dialect)] = found
        return found

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        """Run on `conn`'s DBAPI connection; the DBAPI cursor, for rowcount or fetchone()."""
        compiled = self._compiled(conn.dialect)
        args = compiled.arguments(params or {})
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, args)
        except conn.dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise exc.DBAPIError.instance(
                compiled.sql, args, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
            ) from error
        return cursor


_BEGIN_IMMEDIATE = RawStatement(text("BEGIN IMMEDIATE"))
_BEGIN = RawStatement(text("BEGIN"))


class _Compiled:
    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        self.dialect = dialect
        compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        self.sql: str = compiled.string
        names: dict[str, Any] = {name: bind for bind, name in compiled.bind_names.items()}
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup) if compiled.positional else None
        self.fixed = {name: b.value for name, b in names.items() if not b.required and b.callable is None}
        self.process: dict[str, Callable[[Any], Any]] = {}
        for name, bind in names.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.process[name] = processor
        # The placeholder names SQLAlchemy would send are the bind names themselves: none needs escaping.
        if compiled.escaped_bind_names:
            raise ValueError("bind names that need escaping are not supported")

    def arguments(self, params: Mapping[str, Any]) -> Any:
        values = {**self.fixed, **params} if self.fixed else dict(params)
        for name, processor in self.process.items():
            values[name] = processor(values[name])
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)
