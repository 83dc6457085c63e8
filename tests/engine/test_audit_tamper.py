"""Tamper evidence (PERFORMANCE-NOTES R1): an attacker with DDL rights edits the audit table;
verify_log must fail and name the first entry that no longer verifies."""

from __future__ import annotations

import math
import re
import string
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text, update
from sqlalchemy.exc import DBAPIError

from engine import auditlog
from engine.audit import Link, Verdict, body, link_hash
from engine.auditbody import COLUMNS
from engine.auditlog import Checkpoint, verify_log
from engine.database import Database
from engine.errors import AuditUnavailable
from engine.tables import AuditEntry
from tests.engine.conftest import Chain
from tests.engine.support import attacker, drop_append_only

_audit = AuditEntry.__table__  # type: ignore[attr-defined]

# What verify says when one column of an entry that keeps its sealed body is changed.
_WHY = {
    "seq": "sequence gap",
    "prev_hash": "does not link",
    "hash": "does not match its hash",
    "body": "body was changed",
}


def _verdict(db: Database, checkpoint: Checkpoint | None = None) -> Verdict:
    with db.session(write=False) as s:
        return verify_log(s, checkpoint)


def _row(conn: Connection, seq: int) -> dict[str, object]:
    return dict(conn.execute(_audit.select().where(_audit.c.seq == seq)).one()._mapping)


def _set(conn: Connection, where_seq: int, /, **values: object) -> None:
    conn.execute(update(_audit).where(_audit.c.seq == where_seq).values(**values))


def _changed(column: str, value: object, n: int) -> object:
    if column == "seq":
        return n + 100
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str)
    assert value
    return value[:-1] + ("0" if value[-1] != "0" else "1")  # one character, the length kept


def test_D5_the_database_refuses_to_update_or_delete_an_audit_entry(db: Database, chain: Chain) -> None:
    for statement in (
        "UPDATE audit_entries SET actor = 'nobody' WHERE seq = 3",
        "DELETE FROM audit_entries WHERE seq = 3",
        "DELETE FROM audit_entries",
        *(["TRUNCATE audit_entries"] if not db.is_sqlite else []),
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    verdict = _verdict(db)
    assert verdict.ok
    assert verdict.entries == chain.n


def test_the_head_row_cannot_be_deleted_and_without_it_verify_says_so_and_nothing_is_recorded(
    db: Database, chain: Chain, now: datetime
) -> None:
    statements = ["DELETE FROM audit_head", *(["TRUNCATE audit_head"] if not db.is_sqlite else [])]
    for statement in statements:
        with pytest.raises(DBAPIError, match="audit_head is kept"), db.engine.begin() as conn:
            conn.exec_driver_sql(statement)
    with db.engine.begin() as conn:  # an attacker with DDL rights removes the protection first
        if db.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER audit_head_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_head_kept ON audit_head")
        conn.exec_driver_sql("DELETE FROM audit_head")
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.n + 1)
    assert verdict.why is not None
    assert "head is missing" in verdict.why
    with pytest.raises(AuditUnavailable), db.session() as s:
        auditlog.append(s, at=now, actor="x", role="system", action="login")


@pytest.mark.parametrize("column", COLUMNS)
def test_changing_any_column_of_one_entry_is_found_at_that_entry(db: Database, chain: Chain, column: str) -> None:
    with attacker(db) as conn:
        old = _row(conn, chain.target)[column]
        assert old is not None
        _set(conn, chain.target, **{column: _changed(column, old, chain.n)})
    verdict = _verdict(db)
    assert not verdict.ok
    assert verdict.first_bad == chain.target, verdict
    expected_why = _WHY.get(column, f"stored {column} differs from what its hash seals")
    assert verdict.why is not None
    assert expected_why in verdict.why


def test_D5_deleting_an_entry_in_the_middle_is_found_at_its_seq(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        conn.execute(_audit.delete().where(_audit.c.seq == 12))
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, 12)
    assert verdict.why == "sequence gap: expected 12, found 13"


def test_deleting_the_last_entry_is_found_at_its_seq_by_the_recorded_head(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        conn.execute(_audit.delete().where(_audit.c.seq == chain.n))
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad, verdict.entries) == (False, chain.n, chain.n - 1)
    assert verdict.why is not None
    assert "recorded head" in verdict.why


def test_deleting_the_tail_and_moving_the_head_back_is_found_against_a_checkpoint(db: Database, chain: Chain) -> None:
    cut = chain.checkpoint.seq - 4
    with attacker(db) as conn:
        previous = _row(conn, cut)
        conn.execute(_audit.delete().where(_audit.c.seq > cut))
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"), {"seq": cut, "hash": previous["hash"]}
        )
    assert _verdict(db).ok  # the chain alone cannot tell a cut tail from a short log
    verdict = _verdict(db, chain.checkpoint)
    assert (verdict.ok, verdict.first_bad) == (False, cut + 1)
    assert verdict.why is not None
    assert "does not extend the checkpoint" in verdict.why


def _forged(seq: int, prev_hash: str, at: datetime) -> dict[str, object]:
    """An entry as a forger who knows the encoding would write it, hash and all."""
    link = Link(
        seq=seq,
        at=at,
        actor="boss",
        role="township_officer",
        region_code="341122100201",
        case_id=1,
        action="approve",
        from_state="decision",
        to_state="done",
        data='{"data":{"amount_fen":999999}}',
        due_at=None,
        prev_hash=prev_hash,
    )
    return {**link.__dict__, "hash": link_hash(link), "body": body(link)}


def test_a_forged_entry_appended_after_the_head_is_found_at_its_seq(db: Database, chain: Chain, now: datetime) -> None:
    with attacker(db) as conn:
        conn.execute(_audit.insert().values(**_forged(chain.n + 1, str(_row(conn, chain.n)["hash"]), now)))
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.n + 1)


def test_a_forged_entry_slipped_in_below_the_first_is_found_at_its_seq(
    db: Database, chain: Chain, now: datetime
) -> None:
    with attacker(db) as conn:
        conn.execute(_audit.insert().values(**_forged(0, "f" * 64, now)))
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, 0)


def test_a_forged_entry_spliced_into_the_middle_breaks_the_chain_right_after_it(
    db: Database, chain: Chain, now: datetime
) -> None:
    k = 10
    with attacker(db) as conn:
        for seq in range(chain.n, k - 1, -1):  # make room: renumber the entries from k on
            _set(conn, seq, seq=seq + 1)
        forged = _forged(k, str(_row(conn, k - 1)["hash"]), now)
        _set(conn, k + 1, prev_hash=forged["hash"])  # and link the displaced entry to the forgery
        conn.execute(_audit.insert().values(**forged))
    # The forgery itself links and hashes correctly; the first entry that cannot is the one after it.
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, k + 1)


def test_swapping_two_entries_positions_is_found_at_the_earlier(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        _set(conn, 8, seq=-1)
        _set(conn, 20, seq=8)
        _set(conn, -1, seq=20)
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, 8)


def test_swapping_two_entries_contents_under_their_seqs_is_found_at_the_earlier(db: Database, chain: Chain) -> None:
    content = ("at", "actor", "role", "region_code", "case_id", "action", "from_state", "to_state", "data", "due_at")
    with attacker(db) as conn:
        first, second = _row(conn, 9), _row(conn, 21)
        _set(conn, 9, **{c: second[c] for c in content})
        _set(conn, 21, **{c: first[c] for c in content})
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, 9)


def _rewrite_forward(conn: Connection, k: int, n: int) -> None:
    """Change entry k, then recompute every later link and the head, as an attacker who knows the encoding."""
    prev = str(_row(conn, k - 1)["hash"])
    for seq in range(k, n + 1):
        row = _row(conn, seq)
        if seq == k:
            row["data"] = '{"data":{"amount_fen":1}}'
        link = Link(**{**{c: row[c] for c in COLUMNS if c not in ("hash", "body")}, "prev_hash": prev})  # type: ignore[arg-type]
        prev = link_hash(link)
        _set(conn, seq, data=link.data, prev_hash=link.prev_hash, hash=prev, body=body(link))
    conn.execute(text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": prev})


def test_rewriting_forward_passes_the_chain_check_but_not_a_checkpoint_made_before(db: Database, chain: Chain) -> None:
    k = 15
    assert k <= chain.checkpoint.seq
    with attacker(db) as conn:
        _rewrite_forward(conn, k, chain.n)
    # The chain on its own is blind to it (PERFORMANCE-NOTES A7): every link recomputes.
    assert _verdict(db).ok
    # A checkpoint kept outside since before the rewrite is not extended by the new log.
    verdict = _verdict(db, chain.checkpoint)
    assert (verdict.ok, verdict.first_bad) == (False, chain.checkpoint.seq)
    assert verdict.why == f"does not extend the checkpoint at {chain.checkpoint.seq}"
    with db.session(write=False) as s:
        quick = verify_log(s, chain.checkpoint, since_checkpoint=True)
    assert (quick.ok, quick.first_bad) == (False, chain.checkpoint.seq)


def test_a_rewrite_after_the_checkpoint_is_not_something_the_checkpoint_can_vouch_for(
    db: Database, chain: Chain
) -> None:
    with attacker(db) as conn:
        _rewrite_forward(conn, chain.checkpoint.seq + 2, chain.n)
    assert _verdict(db, chain.checkpoint).ok  # only a later checkpoint could; this is why they are taken daily


def test_a_time_rewritten_in_place_is_found(db: Database, chain: Chain) -> None:
    """SQLite keeps times as text: the same moment spelled differently must not pass. PostgreSQL keeps
    them as timestamptz: a shift of one microsecond must not pass."""
    with attacker(db) as conn:
        if db.is_sqlite:
            conn.execute(
                text("UPDATE audit_entries SET at = replace(at, ' ', 'T') WHERE seq = :k"), {"k": chain.target}
            )
        else:
            conn.execute(
                text("UPDATE audit_entries SET at = at + interval '1 microsecond' WHERE seq = :k"), {"k": chain.target}
            )
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target)
    assert verdict.why is not None
    expected = "cannot be read as written" if db.is_sqlite else "stored at differs from what its hash seals"
    assert expected in verdict.why


# --------------------------------------------------------------------------- any single character

_CAST = {"seq": "bigint", "case_id": "integer", "at": "timestamptz", "due_at": "timestamptz"}
_SOME_CHARACTER = st.one_of(
    st.sampled_from(string.digits),  # keeps numbers and times well-formed often enough to be stored
    st.characters(min_codepoint=0x20, max_codepoint=0x9FFF, exclude_categories=("Cs",)),
)


@pytest.mark.parametrize("column", COLUMNS)
def test_any_single_changed_character_in_any_stored_field_is_found_at_that_entry(
    db: Database, chain: Chain, column: str
) -> None:
    # Four stored changes per column, 56 in all: the property of R1, kept quick.
    tried: list[str] = []

    @settings(max_examples=4, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        seq = data.draw(st.integers(1, chain.n), label="seq")
        with db.engine.connect() as conn, conn.begin() as attack:
            drop_append_only(conn)
            stored = f"CAST({column} AS TEXT)"
            raw = conn.execute(text(f"SELECT {stored} FROM audit_entries WHERE seq = :s"), {"s": seq}).scalar()
            if raw is None or raw == "":
                new = data.draw(st.sampled_from(["0", "x", "2026-01-01 00:00:00"]), label="new")
            else:
                at = data.draw(st.integers(0, len(raw) - 1), label="position")
                typed = column in _CAST and not db.is_sqlite  # PostgreSQL parses these: mostly digits will do
                some = st.sampled_from(string.digits) if typed else _SOME_CHARACTER
                char = data.draw(some.filter(lambda c: c != raw[at]), label="character")
                new = raw[:at] + char + raw[at + 1 :]
            value = f"CAST(:v AS {_CAST[column]})" if column in _CAST and not db.is_sqlite else ":v"
            seqs_before = set(conn.execute(text("SELECT CAST(seq AS TEXT) FROM audit_entries")).scalars())
            try:
                with conn.begin_nested():
                    conn.execute(
                        text(f"UPDATE audit_entries SET {column} = {value} WHERE seq = :s"), {"v": new, "s": seq}
                    )
            except DBAPIError:
                reject()  # the column's type refuses the value: nothing was stored
            if column == "seq":
                seqs_after = set(conn.execute(text("SELECT CAST(seq AS TEXT) FROM audit_entries")).scalars())
                after = next(iter(seqs_after - seqs_before), raw)
                # Where the chain first breaks: the gap the row left, or the row itself if it now sorts first
                # (a fraction such as 1.5, stored by SQLite as a real, sorts between 1 and 2: it breaks at 2).
                stored_as = (
                    conn.execute(
                        text("SELECT typeof(seq) FROM audit_entries WHERE CAST(seq AS TEXT) = :a"), {"a": after}
                    ).scalar()
                    if db.is_sqlite
                    else "integer"
                )
                if re.fullmatch(r"-?[0-9]+", after):
                    first_bad = min(seq, int(after))
                elif stored_as == "real":
                    first_bad = min(seq, max(1, math.ceil(float(after))))
                else:
                    first_bad = seq
            else:
                after = conn.execute(text(f"SELECT {stored} FROM audit_entries WHERE seq = :s"), {"s": seq}).scalar()
                first_bad = seq
            if after == raw:
                reject()  # the database normalised it back to the same stored value
            verdict = verify_log(conn)
            attack.rollback()
        assert not verdict.ok
        assert verdict.first_bad == first_bad, (column, raw, new, verdict)
        tried.append(column)

    check()
    assert len(tried) >= 4  # the changes were really stored, and every one was caught


def test_the_columns_verify_binds_are_every_column_of_an_entry() -> None:
    """A column added to audit_entries must be added to what the hash seals and verify binds (or
    deliberately left out here): the tampering tests above change each of COLUMNS."""
    assert sorted(COLUMNS) == sorted(c.name for c in _audit.columns)
