"""Appending to and verifying the audit chain in the database; signed checkpoints."""

from __future__ import annotations

import base64
import json
import multiprocessing
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, bindparam, exc, insert, select, update
from sqlmodel import Session

from engine.audit import (
    GENESIS,
    Link,
    Stored,
    Verdict,
    body,
    canonical_data,
    iso,
    seal,
    verify,
)
from engine.auditbody import first_body, links
from engine.chainhead import HEAD_HELD, hold_head
from engine.errors import AuditUnavailable
from engine.statements import RawStatement
from engine.tables import AuditEntry, AuditHead, Case

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_head = AuditHead.__table__  # type: ignore[attr-defined]

# Built once: every append runs these three, and building a statement costs more than running it.
# They run on the DBAPI cursor (engine.statements.RawStatement): the head read returns integers and text.
_LOCK_HEAD = RawStatement(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update())
_INSERT_ENTRY = RawStatement(insert(_entries).values({c.name: bindparam(c.name, type_=c.type) for c in _entries.c}))
_MOVE_HEAD = (
    update(_head)
    .where(_head.c.id == 1)
    .values(seq=bindparam("new_seq", type_=_head.c.seq.type), hash=bindparam("new_hash", type_=_head.c.hash.type))
)
# PostgreSQL: the entry and the head move in one statement (one round trip fewer per append).
_APPEND_AND_MOVE_HEAD = RawStatement(
    _MOVE_HEAD.add_cte(
        insert(_entries).values({c.name: bindparam(f"entry_{c.name}", type_=c.type) for c in _entries.c}).cte("entry")
    )
)
_MOVE_HEAD_ONLY = RawStatement(_MOVE_HEAD)


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str
    at: datetime


def _locked_head(conn: Connection) -> tuple[int, str]:
    """The chain's head (seq, hash), its row locked for the rest of the transaction."""
    held: tuple[int, str] | None = conn.info.pop(HEAD_HELD, None)
    if held is not None:
        return held
    cursor = _LOCK_HEAD.execute(conn)
    head = cursor.fetchone()
    cursor.close()
    if head is None:
        raise AuditUnavailable(
            "审计链头记录缺失，已停止写入，请联系系统管理员核查 / "
            "the audit chain's head row is missing: nothing can be recorded until it is repaired"
        )
    return int(head[0]), str(head[1])


def lock_head(conn: Connection) -> None:
    """Take the chain head's lock now (a no-op when the transaction holds it), for a read that must see
    every entry committed before this transaction's next one and none after (a payment run's total)."""
    seq, hash_ = _locked_head(conn)
    hold_head(conn, seq, hash_)


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    region_code: str = "",
    case_id: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: Mapping[str, Any] | None = None,
    due_at: datetime | None = None,
) -> Appended:
    """Append one entry in the caller's transaction.

    The head row is locked first (FOR UPDATE on PostgreSQL; SQLite's single writer already holds
    the database), so concurrent appends queue instead of forking the chain; and `prev_hash` is
    unique, so a fork could not commit even if they did not.
    """
    conn = session.connection()
    head_seq, head_hash = _locked_head(conn)
    link = Link(
        seq=head_seq + 1,
        at=at,
        actor=actor,
        role=role,
        region_code=region_code,
        case_id=case_id,
        action=action,
        from_state=from_state,
        to_state=to_state,
        data=canonical_data(data or {}),
        due_at=due_at,
        prev_hash=head_hash,
    )
    sealed = body(link)
    digest = seal(link.prev_hash, sealed.encode())
    row = {
        "seq": link.seq,
        "at": at,
        "actor": actor,
        "role": role,
        "region_code": region_code,
        "case_id": case_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "data": link.data,
        "due_at": due_at,
        "prev_hash": link.prev_hash,
        "hash": digest,
        "body": sealed,
    }
    moved = {"new_seq": link.seq, "new_hash": digest}
    if conn.dialect.name == "postgresql":
        _APPEND_AND_MOVE_HEAD.execute(conn, {**{f"entry_{k}": v for k, v in row.items()}, **moved}).close()
    else:
        _INSERT_ENTRY.execute(conn, row).close()
        _MOVE_HEAD_ONLY.execute(conn, moved).close()
    hold_head(conn, link.seq, digest)
    return Appended(link.seq, digest, at)


def append_many(session: Session, entries: Sequence[Mapping[str, Any]]) -> Appended | None:
    """Append `entries` in order in the caller's transaction, as `append` would one after the other
    (each a mapping of `append`'s keyword arguments): the head locked and read once, the entries
    inserted in one statement, the head moved once. The last entry appended, or None for none."""
    if not entries:
        return None
    conn = session.connection()
    seq, prev = _locked_head(conn)
    rows = []
    for entry in entries:
        fields = {"region_code": "", "case_id": None, "from_state": None, "to_state": None, "due_at": None, **entry}
        fields["data"] = canonical_data(entry.get("data") or {})
        seq += 1
        sealed = body(Link(seq=seq, prev_hash=prev, **fields))
        digest = seal(prev, sealed.encode())
        rows.append({**fields, "seq": seq, "prev_hash": prev, "hash": digest, "body": sealed})
        prev = digest
    _insert_entries(conn, rows)
    _MOVE_HEAD_ONLY.execute(conn, {"new_seq": seq, "new_hash": prev}).close()
    hold_head(conn, seq, prev)
    return Appended(seq, prev, rows[-1]["at"])


_COLUMNS = tuple(c.name for c in _entries.c)
_COPY_ENTRIES = f"COPY {_entries.name} ({', '.join(_COLUMNS)}) FROM STDIN"


def _insert_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Rows of `audit_entries` in one go, on the driver's cursor: on PostgreSQL by COPY (about half
    the time of a pipelined executemany for a payment run's thousands), elsewhere by one executemany.
    The times are aware (`body` has refused naive ones), as the column's type would send them."""
    if conn.dialect.name != "postgresql":
        _INSERT_ENTRY.execute_many(conn, rows)
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(_COPY_ENTRIES) as copy:
            for row in rows:
                copy.write_row([row[name] for name in _COLUMNS])
    except conn.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(_COPY_ENTRIES, None, error, conn.dialect.loaded_dbapi.Error) from error
    finally:
        cursor.close()


def record(
    session: Session,
    *,
    case: Case,
    actor_name: str,
    role: str,
    action: str,
    data: Mapping[str, Any] | None = None,
    at: datetime,
) -> Appended:
    """An entry about a case that does not move (a read, a recusal, a further objection), at its region and state."""
    return append(
        session,
        at=at,
        actor=actor_name,
        role=role,
        action=action,
        region_code=case.region_code,
        case_id=case.id,
        from_state=case.state,
        to_state=case.state,
        data=data,
    )


# A parallel verify splits the chain only when each range holds at least this many entries: below
# it, starting the processes costs more than they save.
PARALLEL_MIN_RANGE = 100_000


def verify_log(
    session: Session | Connection,
    checkpoint: Checkpoint | None = None,
    *,
    since_checkpoint: bool = False,
    workers: int = 1,
    min_range: int = PARALLEL_MIN_RANGE,
) -> Verdict:
    """Recompute the chain and compare it with the recorded head and, given one, a checkpoint.

    With a checkpoint the whole chain is still recomputed, and the hash it reaches at the
    checkpoint's seq must be the checkpoint's head: the stored hash alone proves nothing about the
    entries before it. `since_checkpoint` trusts the entries up to the checkpoint (verified on an
    earlier run) and recomputes only what came after: O(new entries).

    `workers` > 1 splits the chain into that many ranges of seq, each recomputed in its own process
    on its own connection (see `_verify_ranges`); the verdict is the one a single pass gives.
    """
    if checkpoint is not None and since_checkpoint:
        return _verify_since(session, checkpoint, workers, min_range)
    witness: list[str] = []
    bodies = first_body(session, None)
    verdict = _verify_ranges(session, None, GENESIS, workers, min_range, bodies)
    if verdict is None and checkpoint is None:
        verdict = verify(links(session, bodies_from=bodies))
    elif verdict is None:
        kept_seq = checkpoint.seq if checkpoint is not None else None

        def watched() -> Iterator[Stored]:
            for entry in links(session, bodies_from=bodies):
                if entry[0] == kept_seq:
                    witness.append(entry[3])
                yield entry

        verdict = verify(watched())
    elif checkpoint is not None:
        # Every entry up to the first bad one was recomputed: a stored hash there is a computed one.
        stored = session.execute(select(_entries.c.hash).where(_entries.c.seq == checkpoint.seq)).scalar_one_or_none()
        witness = [] if stored is None else [stored]
    if checkpoint is not None and checkpoint.seq > 0:
        # Entries up to the checkpoint are trustworthy only if the break, if any, comes after it.
        checked = verdict.ok or (verdict.first_bad is not None and verdict.first_bad > checkpoint.seq)
        if checked and witness != [checkpoint.head]:
            first = min(verdict.entries + 1, checkpoint.seq)
            return Verdict(
                False, verdict.entries, verdict.head, first, f"does not extend the checkpoint at {checkpoint.seq}"
            )
    if not verdict.ok:
        return verdict
    return _against_head(session, verdict)


def _verify_since(session: Session | Connection, checkpoint: Checkpoint, workers: int, min_range: int) -> Verdict:
    if checkpoint.seq > 0:
        row = session.execute(select(_entries.c.hash).where(_entries.c.seq == checkpoint.seq)).scalar_one_or_none()
        if row != checkpoint.head:
            return Verdict(False, 0, GENESIS, checkpoint.seq, f"does not extend the checkpoint at {checkpoint.seq}")
    bodies = first_body(session, checkpoint.seq)
    verdict = _verify_ranges(session, checkpoint.seq, checkpoint.head, workers, min_range, bodies)
    if verdict is None:
        entries = links(session, checkpoint.seq, bodies_from=bodies)
        verdict = verify(entries, start_seq=checkpoint.seq + 1, start_hash=checkpoint.head)
    verdict = Verdict(verdict.ok, verdict.entries + checkpoint.seq, verdict.head, verdict.first_bad, verdict.why)
    if not verdict.ok:
        return verdict
    return _against_head(session, verdict)


def _url_of(session: Session | Connection) -> str | None:
    """The database's URL for another process to open, or None where it cannot (SQLite in memory)."""
    bind = session.engine if isinstance(session, Connection) else session.get_bind()
    url = bind.engine.url if isinstance(bind, Connection) else bind.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


def _verify_ranges(
    session: Session | Connection,
    after: int | None,
    start_hash: str,
    workers: int,
    min_range: int,
    bodies_from: int | None,
) -> Verdict | None:
    """Recompute the entries after `after` (all of them if None) in `workers` processes, one range of
    seq each; None when the chain is too short to be worth splitting (the caller verifies in one pass).

    The ranges meet at boundary entries: range k recomputes the entries up to and including its
    boundary b, and range k+1 starts from b's stored hash. Range k has checked that stored hash
    against b's content and link, so the ranges together check every link a single pass checks; the
    first range has no lower bound (a row slipped in below seq 1 is seen) and the last no upper bound
    (a row past the head is seen), and a missing boundary entry is a gap the range after it names.
    The first failing range, in seq order, holds the entry a single pass would name first.
    """
    if workers < 2:
        return None
    head = session.execute(select(_head.c.seq).where(_head.c.id == 1)).scalar_one_or_none()
    low = after or 0
    if head is None or int(head) - low < workers * max(min_range, 1):
        return None
    url = _url_of(session)
    if url is None:
        return None
    step = (int(head) - low) // workers
    bounds = [low + k * step for k in range(1, workers)]
    jobs: list[tuple[str, int | None, int, str | None, int | None, int | None]] = []
    for k in range(workers):
        upto = bounds[k] if k < workers - 1 else None
        if k == 0:
            jobs.append((url, after, low + 1, start_hash, upto, bodies_from))
        else:
            jobs.append((url, bounds[k - 1], bounds[k - 1] + 1, None, upto, bodies_from))
    # fork where there is one (the processes start in milliseconds and only open connections of their
    # own; a forked child ends with os._exit, so it never closes the parent's); spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = list(pool.map(_verify_range, *zip(*jobs, strict=True)))
    total, prev = 0, start_hash
    for ok, entries, reached, first_bad, why in results:
        if not ok:
            return Verdict(False, total + entries, reached, first_bad, why)
        total, prev = total + entries, reached
    return Verdict(True, total, prev, None)


def _verify_range(
    url: str, after: int | None, start_seq: int, start_hash: str | None, upto: int | None, bodies_from: int | None
) -> tuple[bool, int, str, int | None, str | None]:
    """One range of a parallel verify, in a process of its own: the entries after `after` up to
    `upto`, linked from `start_hash` or, if None, from the stored hash of the boundary entry `after`."""
    from engine.database import make_engine

    engine = make_engine(url, echo=False)
    try:
        with engine.connect() as conn:
            if start_hash is None:
                start_hash = conn.execute(select(_entries.c.hash).where(_entries.c.seq == after)).scalar_one_or_none()
                if start_hash is None:
                    return False, 0, GENESIS, after, f"sequence gap: entry {after} is missing"
            entries = links(conn, after, upto=upto, bodies_from=bodies_from)
            verdict = verify(entries, start_seq=start_seq, start_hash=start_hash)
            return verdict.ok, verdict.entries, verdict.head, verdict.first_bad, verdict.why
    finally:
        engine.dispose()


def _against_head(session: Session | Connection, verdict: Verdict) -> Verdict:
    """The recorded head must be where the chain ends: a witness against a cut-off tail."""
    head = session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one_or_none()
    if head is None:
        why = "the recorded head is missing: the chain's end cannot be witnessed"
        return Verdict(False, verdict.entries, verdict.head, verdict.entries + 1, why)
    if head.seq != verdict.entries or head.hash != verdict.head:
        first_bad = min(head.seq, verdict.entries) + 1 if head.seq != verdict.entries else verdict.entries
        return Verdict(
            False,
            verdict.entries,
            verdict.head,
            first_bad,
            f"the recorded head ({head.seq}) does not match the chain ({verdict.entries})",
        )
    return verdict


# --------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    at: str
    public_key: str
    signature: str

    def message(self) -> bytes:
        return f"aidflow-checkpoint-v1\x00{self.seq}\x00{self.head}\x00{self.at}".encode()

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        raw = json.loads(text)
        return cls(int(raw["seq"]), str(raw["head"]), str(raw["at"]), str(raw["public_key"]), str(raw["signature"]))

    def signature_valid(self) -> bool:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
        try:
            key.verify(base64.b64decode(self.signature), self.message())
        except InvalidSignature:
            return False
        return True


def generate_key(path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


def load_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def make_checkpoint(session: Session | Connection, key: Ed25519PrivateKey, now: datetime) -> Checkpoint:
    """Sign the present head: keep the result outside the system."""
    head = session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    unsigned = Checkpoint(head.seq, head.hash, iso(now) or "", base64.b64encode(public).decode(), "")
    signature = key.sign(unsigned.message())
    return Checkpoint(
        unsigned.seq, unsigned.head, unsigned.at, unsigned.public_key, base64.b64encode(signature).decode()
    )
