"""The hash chain: canonical encoding, hashing and verification. No I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ENCODING_VERSION = 1
GENESIS = "0" * 64
_DOMAIN = b"aidflow-audit-v1\x00"


@dataclass(frozen=True)
class Link:
    """One audit entry as hashed: every field that the chain protects."""

    seq: int
    at: datetime
    actor: str
    role: str
    region_code: str
    case_id: int | None
    action: str
    from_state: str | None
    to_state: str | None
    data: str
    due_at: datetime | None
    prev_hash: str


def iso(moment: datetime | None) -> str | None:
    """Fixed-width UTC ISO-8601 with microseconds: one moment, one string."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_data(data: Mapping[str, Any]) -> str:
    """The act's data as canonical JSON (sorted keys, fixed separators; floats refused)."""
    return json.dumps(_no_floats(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _no_floats(value: Any) -> Any:
    if isinstance(value, float):
        raise TypeError("audit data may not hold floats (money is integer fen)")
    if isinstance(value, Mapping):
        return {str(k): _no_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_floats(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value


# One encoder, built once: json.dumps with non-default options builds a new one on every call.
_encode_list = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_fields(
    seq: int,
    at: str | None,
    actor: str,
    role: str,
    region_code: str,
    case_id: int | None,
    action: str,
    from_state: str | None,
    to_state: str | None,
    data: str,
    due_at: str | None,
) -> bytes:
    """The canonical encoding of an entry's fields, its times already as `iso` strings."""
    return _encode_list(
        [ENCODING_VERSION, seq, at, actor, role, region_code, case_id, action, from_state, to_state, data, due_at]
    ).encode()


def body(link: Link) -> str:
    """The canonical encoding as text (JSON, UTF-8 once encoded): what an entry keeps as its `body`."""
    return _encode_list(
        [
            ENCODING_VERSION,
            link.seq,
            iso(link.at),
            link.actor,
            link.role,
            link.region_code,
            link.case_id,
            link.action,
            link.from_state,
            link.to_state,
            link.data,
            iso(link.due_at),
        ]
    )


def encode(link: Link) -> bytes:
    return body(link).encode()


def seal(prev_hash: str, encoding: bytes) -> str:
    """H(domain ‖ prev ‖ encoding): the previous hash is bound in, so no entry can move."""
    return hashlib.sha256(_DOMAIN + prev_hash.encode() + b"\x00" + encoding).hexdigest()


def link_hash(link: Link) -> str:
    return seal(link.prev_hash, encode(link))


@dataclass(frozen=True)
class Unreadable:
    """A stored entry that cannot be read back as the engine wrote it (a field in a foreign form)."""

    seq: int
    why: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    head: str
    first_bad: int | None
    why: str | None = None


# A stored entry as the verifier reads it: seq as stored, prev_hash, the canonical encoding of its
# fields (or why they could not be read as written), and the stored hash.
Stored = tuple[object, str, bytes | Unreadable, str]


def verify(entries: Iterable[Stored], *, start_seq: int = 1, start_hash: str = GENESIS) -> Verdict:
    """Recompute the chain; name the first entry whose position, form, link or hash does not match."""
    expected_seq, prev, count = start_seq, start_hash, 0
    sha256, domain = hashlib.sha256, _DOMAIN
    for seq, prev_hash, encoding, stored_hash in entries:
        if type(seq) is not int:  # SQLite stores whatever it is given, even in an integer column
            return Verdict(False, count, prev, expected_seq, f"sequence number {seq!r} is not a whole number")
        if seq != expected_seq:
            bad = min(seq, expected_seq)
            return Verdict(False, count, prev, bad, f"sequence gap: expected {expected_seq}, found {seq}")
        if isinstance(encoding, Unreadable):
            return Verdict(False, count, prev, seq, encoding.why)
        if prev_hash != prev:
            return Verdict(False, count, prev, seq, "does not link to the entry before it")
        if sha256(domain + prev_hash.encode() + b"\x00" + encoding).hexdigest() != stored_hash:
            return Verdict(False, count, prev, seq, "content does not match its hash")
        prev, expected_seq, count = stored_hash, expected_seq + 1, count + 1
    return Verdict(True, count, prev, None)
