"""The audit chain's head as the open transaction holds it.

A unit of work that already holds the head's lock (a group-commit batch reads it once when it opens:
engine.database) notes the head here, on its connection; each append (engine.auditlog) takes it
instead of reading the head again, and leaves the head it moved to for the next. Taken, not read: a
writer that moves the head some other way only makes the next append read it again. Dropped at every
begin, commit, rollback and savepoint rollback (engine.database's engine events).
"""

from __future__ import annotations

from sqlalchemy import Connection, exc

HEAD_HELD = "aidflow.audit_head"


def hold_head(conn: Connection, seq: int, hash_: str) -> None:
    """Note that the transaction on `conn` holds the head's lock, and the head is (seq, hash_)."""
    conn.info[HEAD_HELD] = (seq, hash_)


def holds_head(conn: Connection) -> bool:
    """Whether the transaction on `conn` is known to hold the head's lock (see hold_head)."""
    return HEAD_HELD in conn.info


def forget_head(conn: Connection) -> None:
    try:
        info = conn.info
    except exc.SQLAlchemyError:
        return  # a connection invalidated under its transaction: it holds nothing any more
    info.pop(HEAD_HELD, None)
