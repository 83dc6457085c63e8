"""Each entry keeps the bytes its hash seals (`body`); verify hashes those and has the database bind
every field to them. An entry changed in its fields, its body, or both, is named; entries written
before the body was kept (migration 0010) are verified from their fields, as they always were."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select

from engine import auditbody, auditlog
from engine.audit import _DOMAIN, Link, Verdict, body, iso, link_hash
from engine.auditbody import FIELDS
from engine.auditlog import verify_log
from engine.database import Database
from engine.tables import AuditEntry, AuditHead
from tests.engine.conftest import Chain
from tests.engine.support import attacker
from tests.engine.test_audit_tamper import _row, _set

_audit = AuditEntry.__table__  # type: ignore[attr-defined]
_head = AuditHead.__table__  # type: ignore[attr-defined]


def _verdict(db: Database, *, workers: int = 1) -> Verdict:
    with db.session(write=False) as s:
        return verify_log(s, workers=workers, min_range=1)


def _fields(row: dict[str, object]) -> list[object]:
    return [row[c] for c in FIELDS]


def _changed(value: object) -> object:
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str)
    return value[:-1] + ("0" if value[-1:] != "0" else "1")  # one character, the length kept


def _link(row: dict[str, object], **changes: object) -> Link:
    return Link(**{**{c: row[c] for c in (*FIELDS, "prev_hash")}, **changes})  # type: ignore[arg-type]


def _no_second_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if the database flags an entry: its encoding of the fields must be the body, byte for byte."""

    def judged(*args: object) -> str | None:
        raise AssertionError(f"the database flagged an entry that was not changed: {args}")

    monkeypatch.setattr(auditbody, "_judged", judged)


def test_each_entry_keeps_the_bytes_its_hash_seals_and_they_say_what_its_fields_say(
    db: Database, chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(_audit.select().order_by(_audit.c.seq))]
    assert len(rows) == chain.n
    for row in rows:
        assert isinstance(row["body"], str)
        sealed = hashlib.sha256(_DOMAIN + str(row["prev_hash"]).encode() + b"\x00" + row["body"].encode())
        assert sealed.hexdigest() == row["hash"]
        assert row["body"] == body(_link(row))
        assert json.loads(row["body"]) == [1, *(iso(v) if isinstance(v, datetime) else v for v in _fields(row))]
    _no_second_look(monkeypatch)
    assert _verdict(db).ok


@pytest.mark.parametrize("column", FIELDS[1:])
def test_a_field_changed_together_with_the_body_is_found_by_the_hash(db: Database, chain: Chain, column: str) -> None:
    with attacker(db) as conn:
        row = _row(conn, chain.target)
        changed = '{"data":{"amount_fen":1}}' if column == "data" else _changed(row[column])
        _set(conn, chain.target, **{column: changed, "body": body(_link(row, **{column: changed}))})
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad, verdict.why) == (False, chain.target, "content does not match its hash")


def test_a_field_body_and_hash_changed_together_break_the_link_of_the_next_entry(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        link = _link(_row(conn, chain.target), action="approve")
        _set(conn, chain.target, action="approve", body=body(link), hash=link_hash(link))
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target + 1)
    assert verdict.why == "does not link to the entry before it"


def _reseal_from(conn: Connection, k: int, n: int, spell: dict[int, str]) -> None:
    """Give entries k… a body spelled as `spell` says and relink every later entry and the head, as
    someone who knows the encoding: the chain then links and hashes throughout."""
    prev = str(_row(conn, k - 1)["hash"])
    for seq in range(k, n + 1):
        link = _link(_row(conn, seq), prev_hash=prev)
        sealed = spell.get(seq, body(link))
        prev = hashlib.sha256(_DOMAIN + prev.encode() + b"\x00" + sealed.encode()).hexdigest()
        _set(conn, seq, prev_hash=link.prev_hash, hash=prev, body=sealed)
    conn.execute(_head.update().values(hash=prev))


def test_a_body_resealed_in_another_spelling_of_the_same_fields_is_named(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        link = _link(_row(conn, chain.target))
        spaced = json.dumps(json.loads(body(link)), ensure_ascii=False, separators=(", ", ": "))
        _reseal_from(conn, chain.target, chain.n, {chain.target: spaced})
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target)
    assert verdict.why == "its sealed body is not the canonical encoding of its fields: the body was changed"


def test_a_body_resealed_as_something_else_is_named(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        _reseal_from(conn, chain.target, chain.n, {chain.target: "approved, trust me"})
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target)
    assert verdict.why == "its sealed body is not an entry's encoding: the body was changed"


def test_a_body_resealed_with_other_fields_names_the_fields_that_differ(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        link = _link(_row(conn, chain.target), actor="nobody", case_id=999)
        _reseal_from(conn, chain.target, chain.n, {chain.target: body(link)})
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target)
    assert verdict.why == "stored actor, case_id differ from what its hash seals"


def test_a_body_removed_after_entries_that_keep_theirs_is_named(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        _set(conn, chain.target, body=None)
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target)
    assert verdict.why == "its sealed body is missing, although entries before it keep theirs"
    split = _verdict(db, workers=3)
    assert (split.ok, split.first_bad, split.why) == (verdict.ok, verdict.first_bad, verdict.why)


# --------------------------------------------------------------------------- entries written before 0010

LEGACY = 12  # entries 1..LEGACY as a database migrated to 0010 keeps them: no body


def _legacy(conn: Connection, upto: int = LEGACY) -> None:
    conn.execute(_audit.update().where(_audit.c.seq <= upto).values(body=None))


def test_entries_written_before_the_body_was_kept_verify_from_their_fields(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        _legacy(conn)
    for workers in (1, 3):
        verdict = _verdict(db, workers=workers)
        assert (verdict.ok, verdict.entries) == (True, chain.n)
    with db.session(write=False) as s:
        assert auditbody.first_body(s, None) == LEGACY + 1
        assert verify_log(s, chain.checkpoint, since_checkpoint=True).ok


@pytest.mark.parametrize("column", ["at", "actor", "case_id", "action", "data", "due_at"])
def test_a_field_changed_in_an_entry_without_a_body_is_found_by_its_hash(
    db: Database, chain: Chain, column: str, now: datetime
) -> None:
    with attacker(db) as conn:
        _legacy(conn, chain.target)
        _set(conn, chain.target, **{column: _changed(_row(conn, chain.target)[column])})
    for workers in (1, 3):
        verdict = _verdict(db, workers=workers)
        assert (verdict.ok, verdict.first_bad, verdict.why) == (False, chain.target, "content does not match its hash")


# --------------------------------------------------------------------------- the database spells as Python does

_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01", "\x1f", "\x7f", "\u2028", "é", "𝄞"]),
        st.characters(min_codepoint=1, exclude_categories=("Cs",)),
    ),
    max_size=20,
)


def test_the_database_spells_any_entry_exactly_as_the_engine_seals_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text with quotes, backslashes, control characters and characters outside the BMP, times to the
    microsecond, absent fields: not one entry is flagged for a second look."""
    _no_second_look(monkeypatch)
    written = 0

    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        text=_TEXT,
        at=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)),
        due=st.none() | st.datetimes(datetime(1970, 1, 1), datetime(9998, 12, 31), timezones=st.just(UTC)),
        case_id=st.none() | st.integers(0, 2**31 - 1),
        state=st.none() | _TEXT,
    )
    def write(text: str, at: datetime, due: datetime | None, case_id: int | None, state: str | None) -> None:
        nonlocal written
        with db.session() as s:
            auditlog.append(
                s,
                at=at,
                actor=text,
                role="township_officer",
                action=text or "x",
                region_code=text[:12],
                case_id=case_id,
                from_state=state,
                to_state=state,
                data={text: [text, case_id]},
                due_at=due,
            )
        written += 1

    write()
    with db.session(write=False) as s:
        verdict = verify_log(s)
        bodies = s.execute(select(func.count()).where(_audit.c.body.is_not(None))).scalar_one()
    assert (verdict.ok, verdict.entries, bodies) == (True, written, written), verdict


def test_a_field_stored_as_bytes_is_named(db: Database, chain: Chain) -> None:
    """SQLite keeps whatever it is given, bytes in a text column too: its json_array refuses them, and
    verify then judges the page entry by entry. PostgreSQL turns bytes assigned to a text column into
    their text form ('\\x…'), a changed field."""
    to_bytes = "CAST(actor AS BLOB)" if db.is_sqlite else "convert_to(actor, 'UTF8')"
    with attacker(db) as conn:
        conn.exec_driver_sql(f"UPDATE audit_entries SET actor = {to_bytes} WHERE seq = {chain.target}")
        stored = conn.exec_driver_sql(f"SELECT actor FROM audit_entries WHERE seq = {chain.target}").scalar()
    assert isinstance(stored, bytes if db.is_sqlite else str)
    verdict = _verdict(db)
    assert (verdict.ok, verdict.first_bad) == (False, chain.target)
    assert verdict.why is not None
    expected = "cannot be read as written" if db.is_sqlite else "stored actor differs from what its hash seals"
    assert verdict.why.startswith(expected), verdict.why
