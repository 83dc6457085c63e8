"""A payment run's part in bulk: of its cases only what a line needs, read a few hundred at a time by
JSON extraction in SQL (never the whole case file); its lines inserted in one statement; its audit
entries built for one append."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, bindparam, text

from engine.access import Actor
from engine.calendar import local_date
from engine.tables import Case
from workflows.base import LINES, insert_or_skip, role_of
from workflows.policy import Rules

if TYPE_CHECKING:
    from workflows.env import Env

PART_READ = 500  # cases read per statement on SQLite (an IN list); PostgreSQL takes one array

# The keys of a case file a payment line depends on (its amount, its hold, its end): all a run reads.
PAY_KEYS = ("activated_at", "monthly_amount_fen", "termination", "exited", "instalments", "bank_account_enc")
_CASE_COLUMNS = "c.id, c.workflow, c.state, c.region_code, c.township_code, c.county_code"
# SQLite: one json_extract of several paths is one parse, and gives a JSON array of their values.
_PATHS = ", ".join(f"'$.{k}'" for k in PAY_KEYS)
_READ_SQLITE = text(
    f"SELECT {_CASE_COLUMNS}, json_extract(c.data, {_PATHS}) FROM cases AS c WHERE c.id IN :ids ORDER BY c.id"
).bindparams(bindparam("ids", expanding=True))
# PostgreSQL (data is `json`): json_to_record parses the file once; each `->` would parse it again.
_READ_POSTGRES = text(
    f"SELECT {_CASE_COLUMNS}, json_build_array({', '.join(f'r.{k}' for k in PAY_KEYS)})::text "
    f"FROM cases AS c CROSS JOIN LATERAL json_to_record(c.data) AS r({', '.join(f'{k} json' for k in PAY_KEYS)}) "
    "WHERE c.id = ANY(:ids) ORDER BY c.id"
)


class Payee(NamedTuple):
    """A case as a payment run reads it: its columns, and of its file only the keys of PAY_KEYS
    (as the whole file holds them; a key it lacks reads as None)."""

    id: int
    workflow: str
    state: str
    region_code: str
    township_code: str
    county_code: str
    data: dict[str, Any]


def read_payees(conn: Connection, ids: list[int]) -> Iterator[Payee]:
    """The cases of `ids`, in id order, with what their lines need read from their files in SQL."""
    postgres = conn.dialect.name == "postgresql"
    step = len(ids) if postgres else PART_READ
    for k in range(0, len(ids), max(step, 1)):
        chunk = ids[k : k + step]
        for row in conn.execute(_READ_POSTGRES if postgres else _READ_SQLITE, {"ids": chunk}):
            data = dict(zip(PAY_KEYS, json.loads(row[6]), strict=True))
            yield Payee(row[0], row[1], row[2], row[3], row[4], row[5], data)


LINE_COLUMNS = (
    "case_id",
    "month",
    "amount_fen",
    "status",
    "region_code",
    "township_code",
    "county_code",
    "created_at",
    "reference",
    "held_reason",
    "attempt",
)


def insert_lines(conn: Connection, rows: list[dict[str, Any]]) -> set[int]:
    """Insert the lines, skipping any a concurrent run made first; the cases whose line was inserted."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        # one statement, one round trip: the rows sent as one JSON array, read back as the table's rows
        doc = json.dumps([{**row, "created_at": row["created_at"].astimezone(UTC).isoformat()} for row in rows])
        return {int(i) for i in conn.execute(_INSERT_POSTGRES, {"rows": doc}).scalars()}
    statement = (
        insert_or_skip(conn, LINES)
        .on_conflict_do_nothing(index_elements=["case_id", "month"])
        .returning(LINES.c.case_id)
    )
    # one statement compiled once, its rows sent in batches (executemany with RETURNING)
    return {int(i) for i in conn.execute(statement, rows).scalars()}


_INSERT_POSTGRES = text(
    f"INSERT INTO payment_lines ({', '.join(LINE_COLUMNS)}) "
    f"SELECT {', '.join(LINE_COLUMNS)} FROM json_populate_recordset(NULL::payment_lines, CAST(:rows AS json)) "
    "ON CONFLICT (case_id, month) DO NOTHING RETURNING case_id"
)


def case_entry(case: Case | Payee, actor: Actor, action: str, now: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """An audit entry about a case that does not move, as auditlog.record writes it (for append_many)."""
    return {
        "at": now,
        "actor": actor.username,
        "role": role_of(actor),
        "action": action,
        "region_code": case.region_code,
        "case_id": case.id,
        "from_state": case.state,
        "to_state": case.state,
        "data": data,
    }


def cached_rules(env: Env, region_code: str, at: datetime, cache: dict[tuple[str, date], Rules] | None) -> Rules:
    """The rules in force in a region on a day; read once per region and day when given a `cache`."""
    if cache is None:
        return env.rules(region_code, at)
    key = (region_code, local_date(at))
    found = cache.get(key)
    if found is None:
        found = cache[key] = env.rules(region_code, at)
    return found
