"""One case by its id, read on the driver's cursor and made a persistent object of the session.

Every act loads its case first. `Session.get` costs about four times what the read itself does
(cache key, compiled-cache lookup, result set-up, the loading machinery); the case is one row of
known columns, so it is read with a statement compiled once (engine.statements), each value run
through its column type's result processor as Core would (UTC times, JSON), and the object is put
in the session as if the ORM had loaded it: changes to it are tracked and flushed as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session

from engine.statements import RawStatement
from engine.tables import Case

_cases = Case.__table__  # type: ignore[attr-defined]
_mapper = Case.__mapper__  # type: ignore[attr-defined]
_COLUMNS = tuple(_cases.c)
_NAMES = tuple(column.key for column in _COLUMNS)
_SELECT = RawStatement(select(*_COLUMNS).where(_cases.c.id == bindparam("id")))
_processors: dict[int, tuple[Dialect, tuple[Callable[[Any], Any] | None, ...]]] = {}


def _result_processors(dialect: Dialect) -> tuple[Callable[[Any], Any] | None, ...]:
    found = _processors.get(id(dialect))
    if found is None or found[0] is not dialect:
        found = (dialect, tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in _COLUMNS))
        _processors[id(dialect)] = found
    return found[1]


def get_case(session: Session, case_id: int) -> Case | None:
    """The case with this id, or None: the session's own object when it already holds it (as
    `Session.get`), otherwise one row read and added to the session as persistent and unchanged."""
    held = session.identity_map.get(_mapper.identity_key_from_primary_key((case_id,)))
    if held is not None:
        return held  # type: ignore[no-any-return]
    conn = session.connection()
    cursor = _SELECT.execute(conn, {"id": case_id})
    try:
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    processors = _result_processors(conn.dialect)
    case: Case = _mapper.class_manager.new_instance()
    case.__dict__.update(
        {
            name: (process(value) if process is not None else value)
            for name, process, value in zip(_NAMES, processors, row, strict=True)
        }
    )
    make_transient_to_detached(case)  # every attribute loaded, none changed
    session.add(case)  # persistent again: no SQL
    return case
