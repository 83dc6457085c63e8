"""Appending to and verifying the audit chain in the database; signed checkpoints."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, insert, select, update
from sqlmodel import Session

from engine.audit import GENESIS, Link, Verdict, canonical_data, iso, link_hash, verify
from engine.store import AuditEntry, AuditHead

_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_head = AuditHead.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str
    at: datetime


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
    head = session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1).with_for_update()).one()
    link = Link(
        seq=head.seq + 1,
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
        prev_hash=head.hash,
    )
    digest = link_hash(link)
    session.execute(
        insert(_entries).values(
            seq=link.seq,
            at=at,
            actor=actor,
            role=role,
            region_code=region_code,
            case_id=case_id,
            action=action,
            from_state=from_state,
            to_state=to_state,
            data=link.data,
            due_at=due_at,
            prev_hash=link.prev_hash,
            hash=digest,
        )
    )
    session.execute(update(_head).where(_head.c.id == 1).values(seq=link.seq, hash=digest))
    return Appended(link.seq, digest, at)


def _links(conn: Session | Connection, start_seq: int = 1, batch: int = 5000) -> Iterator[tuple[Link, str]]:
    last = start_seq - 1
    while True:
        rows = conn.execute(select(_entries).where(_entries.c.seq > last).order_by(_entries.c.seq).limit(batch)).all()
        for r in rows:
            yield (
                Link(
                    r.seq,
                    r.at,
                    r.actor,
                    r.role,
                    r.region_code,
                    r.case_id,
                    r.action,
                    r.from_state,
                    r.to_state,
                    r.data,
                    r.due_at,
                    r.prev_hash,
                ),
                r.hash,
            )
        if len(rows) < batch:
            return
        last = rows[-1].seq


def verify_log(session: Session | Connection, checkpoint: Checkpoint | None = None) -> Verdict:
    """Recompute the whole chain (or from a checkpoint on) and compare with the recorded head."""
    start_seq, start_hash, before = 1, GENESIS, 0
    if checkpoint is not None:
        if checkpoint.seq > 0:
            row = session.execute(select(_entries.c.hash).where(_entries.c.seq == checkpoint.seq)).scalar_one_or_none()
            if row != checkpoint.head:
                return Verdict(False, 0, GENESIS, checkpoint.seq, "does not extend the checkpoint")
        start_seq, start_hash, before = checkpoint.seq + 1, checkpoint.head, checkpoint.seq
    verdict = verify(_links(session, start_seq), start_seq=start_seq, start_hash=start_hash)
    verdict = Verdict(verdict.ok, verdict.entries + before, verdict.head, verdict.first_bad, verdict.why)
    if not verdict.ok:
        return verdict
    head = session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one()
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


def make_checkpoint(session: Session | Connection, key: Ed25519PrivateKey, now: datetime) -> Checkpoint:
    """Sign the present head: keep the result outside the system."""
    head = session.execute(select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    unsigned = Checkpoint(head.seq, head.hash, iso(now) or "", base64.b64encode(public).decode(), "")
    signature = key.sign(unsigned.message())
    return Checkpoint(
        unsigned.seq, unsigned.head, unsigned.at, unsigned.public_key, base64.b64encode(signature).decode()
    )
