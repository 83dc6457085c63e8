"""auditlog.append_many writes what append writes one entry at a time: the same rows, the same hashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import migrations
from engine import auditlog
from engine.auditlog import verify_log
from engine.database import Database
from engine.tables import AuditEntry

_audit = AuditEntry.__table__  # type: ignore[attr-defined]
AT = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def _entries() -> list[dict[str, Any]]:
    return [
        {
            "at": AT + timedelta(seconds=k),
            "actor": "system",
            "role": "system",
            "action": "payment_line",
            "region_code": "341122100201",
            "case_id": k,
            "from_state": "active",
            "to_state": "active",
            "data": {"reference": f"PAY202612-{k:08d}", "month": "2026-12", "amount_fen": 50_000 + k},
        }
        for k in range(1, 6)
    ] + [{"at": AT, "actor": "system", "role": "system", "action": "payment_run", "data": {"created": 5}}]


def _rows(db: Database) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(_audit.select().order_by(_audit.c.seq))]


def test_append_many_makes_the_chain_that_appending_one_by_one_makes(db: Database, tmp_path: Any) -> None:
    other = Database(f"sqlite:///{tmp_path / 'one_by_one.db'}")
    migrations.upgrade(str(other.engine.url))
    try:
        with db.session() as s:
            last = auditlog.append_many(s, _entries())
        with other.session() as s:
            for entry in _entries():
                one = auditlog.append(s, **entry)
        assert last is not None
        assert (last.seq, last.hash) == (one.seq, one.hash)
        assert _rows(db) == _rows(other)
        with db.session(write=False) as s:
            assert verify_log(s).ok
        with db.session() as s:
            assert auditlog.append_many(s, []) is None
        assert len(_rows(db)) == len(_entries())
    finally:
        other.dispose()
