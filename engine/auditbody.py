"""Reading the stored chain for verify: each entry's sealed body streamed, its fields bound to it.

An entry keeps `body`, the exact bytes its hash seals (engine.audit.body). Verify streams
(seq, prev_hash, body, hash) and hashes the body, which alone would let someone change a field and
leave the body be; so the same scan has the database spell each row's fields as the encoder spells
them and say whether that is the body, byte for byte. SQLite's json_array and PostgreSQL's to_json
escape text as Python's encoder does (`"`, `\\`, \\b \\f \\n \\r \\t, other controls as \\u00xx,
everything else as is), and a stored time is spelled as `iso` spells it only from the one form the
engine writes (on SQLite, text `YYYY-MM-DD HH:MM:SS.ffffff`). A row the database flags is then read
in full and judged here by encoding its fields in Python, as entries without a body always are: the
verdict names the fields that changed, and a flag the Python encoding does not confirm is no break.

Entries written before migration 0010 have no body and are encoded from their fields. Once an
entry has a body every later one has: a body missing after that is named too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, String, func, select, type_coerce
from sqlmodel import Session

from engine.audit import ENCODING_VERSION, Stored, Unreadable, encode_fields, seal
from engine.tables import AuditEntry

_entries = AuditEntry.__table__  # type: ignore[attr-defined]

FIELDS = (
    "seq",
    "at",
    "actor",
    "role",
    "region_code",
    "case_id",
    "action",
    "from_state",
    "to_state",
    "data",
    "due_at",
)
# Every column of an entry: the fields, the link, the hash and the sealed body.
COLUMNS = (*FIELDS, "prev_hash", "hash", "body")
_TEXT = ("actor", "role", "region_code", "action", "from_state", "to_state", "data")
_TIMES = ("at", "due_at")

# ---------------------------------------------------------------------- the fields, encoded by the database


def _sqlite_time(name: str) -> str:
    """A stored time as `iso` spells it. The engine stores `YYYY-MM-DD HH:MM:SS.ffffff`: compared with
    the body's `YYYY-MM-DDTHH:MM:SS.ffffffZ`, every character is pinned but the eleventh, which must be
    the space; any other form gives '!', which no body holds."""
    return (
        f"CASE WHEN typeof({name}) = 'text' AND substr({name}, 11, 1) = ' ' "
        f"THEN substr({name}, 1, 10) || 'T' || substr({name}, 12) || 'Z' WHEN {name} IS NULL THEN NULL ELSE '!' END"
    )


# json_array writes what Python's encoder writes for text, integers and NULL (no spaces; text quoted
# and escaped as above); a number where text belongs, or text where a number does, is written as
# such and so differs from the body. A BLOB makes it fail: `links` then judges the page here.
_SQLITE_ENCODED = (
    f"json_array({ENCODING_VERSION}, seq, {_sqlite_time('at')}, actor, role, region_code, case_id, action, "
    f"from_state, to_state, data, {_sqlite_time('due_at')})"
)


_NULLABLE = ("case_id", "from_state", "to_state", "due_at")


def _postgres_field(name: str) -> str:
    """A field as the encoder spells it. A NULL in a column that never holds one makes the whole
    spelling NULL, which is no body: only the columns that may be NULL need `null` spelled out."""
    if name in _TIMES:  # as the fields are read below: digits, '-', ':', '.', 'T', 'Z', nothing to escape
        spelled = "'\"' || " + f"to_char(timezone('UTC', {name}), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')" + " || '\"'"
    elif name in _TEXT:
        spelled = f"to_json({name})::text"
    else:
        spelled = f"{name}::text"
    return f"coalesce({spelled}, 'null')" if name in _NULLABLE else spelled


# json_build_array would put a space after each comma: the encoding is spelled out instead.
_POSTGRES_ENCODED = (
    "'[" + str(ENCODING_VERSION) + ",' || " + " || ',' || ".join(map(_postgres_field, FIELDS)) + " || ']'"
)

# Each row's flag: 0 when its body is its fields' encoding; 1 when it is not, or when the row has no
# body although an entry before it has one (`bodies_from`, the first entry with a body); LEGACY when
# it has no body and none before it had (written before 0010: encoded here from its fields).
LEGACY = 2
_NO_BODY = f"CASE WHEN body IS NULL THEN CASE WHEN seq > {{mark}} THEN 1 ELSE {LEGACY} END"
_FLAG = {
    "sqlite": f"{_NO_BODY.format(mark='?')} ELSE body IS NOT {_SQLITE_ENCODED} END",
    "sqlite-all": f"{_NO_BODY.format(mark='?')} ELSE 1 END",  # when json_array fails on a page
    "postgresql": f"{_NO_BODY.format(mark='CAST(%s AS bigint)')} "
    f"WHEN body IS DISTINCT FROM ({_POSTGRES_ENCODED}) THEN 1 ELSE 0 END",
}


def _stream_sql(flag: str, *, lower: bool, upper: bool) -> str:
    """The page query: seq, prev_hash, the body as bytes (SQLite's as a BLOB, PostgreSQL's as bytea
    read in binary: no decoding to text and encoding back), hash and the flag."""
    sqlite = flag.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    where = [f"seq > {mark}"] if lower else []
    if upper:
        where.append(f"seq <= {mark}")
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    sealed = "CAST(body AS BLOB)" if sqlite else "convert_to(body, 'UTF8')"
    return (
        f"SELECT seq, prev_hash, {sealed}, hash, {_FLAG[flag]} FROM audit_entries{condition} ORDER BY seq LIMIT {mark}"
    )


# ---------------------------------------------------------------------- the fields, encoded here

_RAW_AT = type_coerce(_entries.c.at, String).label("at")
_RAW_DUE_AT = type_coerce(_entries.c.due_at, String).label("due_at")


def _pg_iso(column: Any) -> Any:
    """PostgreSQL spells the time as `iso` does, in C, rather than Python formatting each one."""
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"').label(column.name)


_PG_AT, _PG_DUE_AT = _pg_iso(_entries.c.at), _pg_iso(_entries.c.due_at)
# The one form the engine writes a time in on SQLite (SQLAlchemy's, always with microseconds).
_SQLITE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}").fullmatch


def _sqlite_iso(raw: object) -> str | None:
    """A stored SQLite time as `iso` spells it, accepted only in the form the engine writes: SQLite
    keeps text, and the same moment spelled another way ('T' for ' ') would otherwise read back
    unchanged. The stored text is UTC, so its digits are the ISO string's."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"time stored as {type(raw).__name__}")
    if not _SQLITE_TIME(raw):
        raise ValueError(f"time {raw!r} is not in the stored form")
    return f"{raw[:10]}T{raw[11:]}Z"


def _as_given(text: str | None) -> str | None:
    return text


def _fields_query(sqlite: bool) -> Any:
    c = _entries.c
    at, due_at = (_RAW_AT, _RAW_DUE_AT) if sqlite else (_PG_AT, _PG_DUE_AT)
    return select(
        c.seq, at, c.actor, c.role, c.region_code, c.case_id, c.action, c.from_state, c.to_state, c.data, due_at
    )


def _encode_row(sqlite: bool, row: Any) -> tuple[list[object], bytes] | str:
    """A row's fields as the encoder takes them and their encoding, or why they cannot be read."""
    time_of = _sqlite_iso if sqlite else _as_given
    seq, at, actor, role, region, case_id, action, before, after, data, due = row
    try:
        values = [seq, time_of(at), actor, role, region, case_id, action, before, after, data, time_of(due)]
        return values, encode_fields(*values)
    except (ValueError, TypeError) as exc:  # a time in another form; bytes where text belongs
        return f"cannot be read as written: {exc}"


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _judged(conn: Connection, sqlite: bool, stored: tuple[Any, ...]) -> str | None:
    """Why a flagged entry's fields are not what its body seals, or None if encoding them here gives
    the body after all."""
    seq, prev_hash, sealed, digest = stored[:4]
    row = conn.execute(_fields_query(sqlite).where(_entries.c.seq == seq)).one()
    encoded = _encode_row(sqlite, row)
    if isinstance(encoded, str):
        return encoded
    values, encoding = encoded
    if encoding == sealed:
        return None
    if isinstance(prev_hash, str) and seal(prev_hash, encoding) == digest:
        return "its stored body was changed: its fields still match its hash"
    try:
        kept = json.loads(sealed)
    except ValueError:
        kept = None
    if not isinstance(kept, list) or len(kept) != len(FIELDS) + 1 or not _same(kept[0], ENCODING_VERSION):
        return "its sealed body is not an entry's encoding: the body was changed"
    changed = [name for name, value, was in zip(FIELDS, values, kept[1:], strict=True) if not _same(value, was)]
    if not changed:
        return "its sealed body is not the canonical encoding of its fields: the body was changed"
    return f"stored {', '.join(changed)} {'differs' if len(changed) == 1 else 'differ'} from what its hash seals"


def first_body(conn: Session | Connection, after: int | None) -> int | None:
    """The first entry after `after` (or of all) that keeps a body: none after it may lack one."""
    query = select(_entries.c.seq).where(_entries.c.body.is_not(None))
    if after is not None:
        query = query.where(_entries.c.seq > after)
    found = conn.execute(query.order_by(_entries.c.seq).limit(1)).scalar_one_or_none()
    return None if found is None else int(found)


_STORED = itemgetter(0, 1, 2, 3)
_FLAGGED = itemgetter(4)


def links(
    conn: Session | Connection,
    after_seq: int | None = None,
    batch: int = 10_000,
    *,
    upto: int | None = None,
    bodies_from: int | None = None,
) -> Iterator[Stored]:
    """Stored entries in seq order for the verifier: all of them, or those after `after_seq` (and,
    given `upto`, none past it: one range of a parallel verify). `bodies_from` is `first_body` over
    everything being verified, so that a range sees a body missing after an earlier range's.

    Reading all of them has no lower bound, so a row slipped in below seq 1 is seen and refused
    rather than skipped. Pages are read on the DBAPI cursor as plain tuples, and a page in which the
    database flagged nothing is handed on as it was read: this loop is most of what a full verify
    costs.
    """
    connection = conn.connection() if isinstance(conn, Session) else conn
    sqlite = connection.dialect.name == "sqlite"
    dbapi = connection.connection.dbapi_connection
    cursor = dbapi.cursor() if sqlite else dbapi.cursor(binary=True)  # type: ignore[union-attr]
    bounded = upto is not None
    flag = "sqlite" if sqlite else "postgresql"
    first, rest = _stream_sql(flag, lower=False, upper=bounded), _stream_sql(flag, lower=True, upper=bounded)
    tail = (upto, batch) if bounded else (batch,)
    last = after_seq
    try:
        while True:
            params = (bodies_from, *tail) if last is None else (bodies_from, last, *tail)
            try:
                rows = cursor.execute(first if last is None else rest, params).fetchall()
            except connection.dialect.loaded_dbapi.Error:
                if not sqlite:
                    raise
                # json_array refused a field (a BLOB): every entry of the page is judged here.
                all_flagged = _stream_sql("sqlite-all", lower=last is not None, upper=bounded)
                rows = cursor.execute(all_flagged, params).fetchall()
            if any(map(_FLAGGED, rows)):
                yield from _looked_at(connection, sqlite, rows)
            else:  # every entry keeps its body, and the database bound each one's fields to it
                yield from map(_STORED, rows)
            if len(rows) < batch:
                return
            last = rows[-1][0]
    finally:
        cursor.close()


def _looked_at(conn: Connection, sqlite: bool, rows: Sequence[Any]) -> Iterator[Stored]:
    """A page with entries to look at again: without a body, or flagged by the database."""
    legacy = _legacy(conn, sqlite, rows)
    for seq, prev_hash, sealed, digest, flagged in rows:
        if flagged:
            yield seq, prev_hash, _second_look(conn, sqlite, legacy, (seq, prev_hash, sealed, digest, flagged)), digest
        else:
            yield seq, prev_hash, sealed, digest


def _second_look(
    conn: Connection, sqlite: bool, legacy: dict[object, bytes | Unreadable], stored: tuple[Any, ...]
) -> bytes | Unreadable:
    """The encoding to hash for an entry without a body or one the database flagged."""
    seq, _, sealed, _, flagged = stored
    if sealed is None:
        if flagged != LEGACY:
            return Unreadable(seq, "its sealed body is missing, although entries before it keep theirs")
        return legacy.get(seq) or Unreadable(seq, "cannot be read as written")
    why = _judged(conn, sqlite, stored)
    return sealed if why is None else Unreadable(seq, why)


def _legacy(conn: Connection, sqlite: bool, rows: Sequence[Any]) -> dict[object, bytes | Unreadable]:
    """The encodings of the page's entries that have no body, from their fields (as before 0010)."""
    seqs = [row[0] for row in rows if row[2] is None and row[4] == LEGACY and type(row[0]) is int]
    if not seqs:
        return {}
    query = _fields_query(sqlite).where(
        _entries.c.body.is_(None), _entries.c.seq >= min(seqs), _entries.c.seq <= max(seqs)
    )
    found: dict[object, bytes | Unreadable] = {}
    for row in conn.execute(query):
        encoded = _encode_row(sqlite, row)
        found[row[0]] = Unreadable(row[0], encoded) if isinstance(encoded, str) else encoded[1]
    return found
