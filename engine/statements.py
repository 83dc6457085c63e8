"""Hot statements: Core SQL compiled once per dialect and run on the DBAPI cursor."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable


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
        return _run(conn, compiled.sql, compiled.arguments(params or {}), many=False)

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once for each of `rows` in one call of the driver's `executemany` (psycopg 3 sends
        them in a pipeline: one round trip for the lot), the cursor closed after."""
        compiled = self._compiled(conn.dialect)
        _run(conn, compiled.sql, [compiled.arguments(row) for row in rows], many=True).close()


def _run(conn: Connection, sql: str, args: Any, *, many: bool) -> Any:
    cursor = None
    try:
        # inside the try: a connection closed under us fails here, and is wrapped like any driver error
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if many:
            cursor.executemany(sql, args)
        else:
            cursor.execute(sql, args)
    except conn.dialect.loaded_dbapi.Error as error:
        if cursor is not None:
            cursor.close()
        raise exc.DBAPIError.instance(
            sql, args, error, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from error
    return cursor


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
