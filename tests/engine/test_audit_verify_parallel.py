"""A verify split over processes (one range of seq each) gives the verdict a single pass gives: the
same first bad entry, the same count, the same head, for an intact chain and for each way of
tampering with it, including at the entries where the ranges meet (PERFORMANCE-NOTES PF5, R1)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import Connection

from engine.audit import Verdict
from engine.auditlog import Checkpoint, verify_log
from engine.database import Database
from engine.tables import AuditEntry
from tests.engine.conftest import Chain
from tests.engine.support import attacker
from tests.engine.test_audit_tamper import _forged, _row, _set

_audit = AuditEntry.__table__  # type: ignore[attr-defined]
WORKERS = 3


def _both(db: Database, checkpoint: Checkpoint | None = None, *, since: bool = False) -> tuple[Verdict, Verdict]:
    with db.session(write=False) as s:
        one = verify_log(s, checkpoint, since_checkpoint=since)
        split = verify_log(s, checkpoint, since_checkpoint=since, workers=WORKERS, min_range=1)
    return one, split


def _same(one: Verdict, split: Verdict) -> None:
    assert (split.ok, split.first_bad, split.entries) == (one.ok, one.first_bad, one.entries), (one, split)
    if one.ok:
        assert split.head == one.head
    else:
        assert split.why is not None


def _boundary(chain: Chain) -> int:
    """The entry where the first range ends and the second begins (as `_verify_ranges` splits)."""
    return chain.n // WORKERS


def test_PF5_an_intact_chain_verifies_alike_split_or_not(db: Database, chain: Chain) -> None:
    one, split = _both(db)
    assert one.ok
    assert split.ok
    _same(one, split)
    assert split.entries == chain.n


def test_PF5_a_split_verify_from_a_checkpoint_covers_only_what_came_after(db: Database, chain: Chain) -> None:
    one, split = _both(db, chain.checkpoint, since=True)
    assert one.ok
    assert split.ok
    _same(one, split)


Tamper = Callable[[Connection, Chain, datetime], None]


def _edit_data_at_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    _set(conn, _boundary(chain), data='{"data":{"amount_fen":1}}')


def _edit_hash_at_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    old = str(_row(conn, _boundary(chain))["hash"])
    _set(conn, _boundary(chain), hash=old[:-1] + ("0" if old[-1] != "0" else "1"))


def _edit_link_after_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    _set(conn, _boundary(chain) + 1, prev_hash="e" * 64)


def _edit_action_under_its_body_at_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    _set(conn, _boundary(chain), action="rewritten")  # the body still says what the entry was


def _edit_body_after_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    _set(conn, _boundary(chain) + 1, body=str(_row(conn, _boundary(chain) + 1)["body"]).replace(",", ", ", 1))


def _drop_body_in_last_range(conn: Connection, chain: Chain, now: datetime) -> None:
    _set(conn, chain.n - 1, body=None)


def _delete_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    conn.execute(_audit.delete().where(_audit.c.seq == _boundary(chain)))


def _delete_after_boundary(conn: Connection, chain: Chain, now: datetime) -> None:
    conn.execute(_audit.delete().where(_audit.c.seq == _boundary(chain) + 1))


def _delete_last(conn: Connection, chain: Chain, now: datetime) -> None:
    conn.execute(_audit.delete().where(_audit.c.seq == chain.n))


def _edit_target_time(conn: Connection, chain: Chain, now: datetime) -> None:
    _set(conn, chain.target, at=now)


def _forge_below_first(conn: Connection, chain: Chain, now: datetime) -> None:
    conn.execute(_audit.insert().values(**_forged(0, "f" * 64, now)))


def _forge_after_head(conn: Connection, chain: Chain, now: datetime) -> None:
    conn.execute(_audit.insert().values(**_forged(chain.n + 1, str(_row(conn, chain.n)["hash"]), now)))


def _two_breaks(conn: Connection, chain: Chain, now: datetime) -> None:
    """A break in the last range and an earlier one in the first: the earlier is named."""
    _set(conn, chain.n - 1, data='{"data":{"amount_fen":2}}')
    _set(conn, 3, actor="nobody")


@pytest.mark.parametrize(
    "tamper",
    [
        _edit_data_at_boundary,
        _edit_hash_at_boundary,
        _edit_link_after_boundary,
        _edit_action_under_its_body_at_boundary,
        _edit_body_after_boundary,
        _drop_body_in_last_range,
        _delete_boundary,
        _delete_after_boundary,
        _delete_last,
        _edit_target_time,
        _forge_below_first,
        _forge_after_head,
        _two_breaks,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_R1_a_tampered_chain_is_found_at_the_same_entry_split_or_not(
    db: Database, chain: Chain, now: datetime, tamper: Tamper
) -> None:
    with attacker(db) as conn:
        tamper(conn, chain, now)
    one, split = _both(db)
    assert not one.ok
    _same(one, split)
    one_cp, split_cp = _both(db, chain.checkpoint)
    _same(one_cp, split_cp)
