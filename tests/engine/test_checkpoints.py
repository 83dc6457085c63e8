"""Signed checkpoints, and `aidflow audit verify` as an inspector runs it."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

from api.cli import app
from engine import auditlog
from engine.audit import Link, body, link_hash
from engine.auditlog import Checkpoint, make_checkpoint, verify_log
from engine.database import Database
from engine.tables import AuditEntry
from tests.engine.conftest import Chain
from tests.engine.support import attacker

_audit = AuditEntry.__table__  # type: ignore[attr-defined]


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_signed_checkpoint_verifies_and_the_growing_log_still_extends_it(
    db: Database, chain: Chain, now: datetime
) -> None:
    assert chain.checkpoint.signature_valid()
    with db.session(write=False) as s:
        verdict = verify_log(s, chain.checkpoint)
    assert verdict.ok
    assert verdict.entries == chain.n
    with db.session() as s:
        auditlog.append(s, at=now + timedelta(days=10), actor="inspector", role="login", action="login")
    with db.session(write=False) as s:
        assert verify_log(s, chain.checkpoint).ok
        assert verify_log(s, chain.checkpoint, since_checkpoint=True).ok
        assert verify_log(s, chain.checkpoint, since_checkpoint=True).entries == chain.n + 1


def test_a_checkpoint_of_the_present_head_signs_its_seq_and_hash(db: Database, chain: Chain, now: datetime) -> None:
    with db.session(write=False) as s:
        fresh = make_checkpoint(s, chain.key, now)
        verdict = verify_log(s)
    assert (fresh.seq, fresh.head) == (verdict.entries, verdict.head) == (chain.n, verdict.head)
    assert fresh.at == "2026-09-28T02:00:00.000000Z"
    assert Checkpoint.from_json(fresh.to_json()) == fresh
    assert json.loads(fresh.to_json())["seq"] == chain.n


@pytest.mark.parametrize("field", ["seq", "head", "at", "signature"])
def test_a_checkpoint_altered_in_any_field_no_longer_verifies(chain: Chain, field: str) -> None:
    altered = {
        "seq": chain.checkpoint.seq - 1,
        "head": "0" * 64,
        "at": "2030-01-01T00:00:00.000000Z",
        "signature": _flip(chain.checkpoint.signature),
    }[field]
    assert not dataclasses.replace(chain.checkpoint, **{field: altered}).signature_valid()


def test_an_entry_altered_before_the_checkpoint_is_found_when_verifying_against_it(db: Database, chain: Chain) -> None:
    # The stored hash at the checkpoint still matches; only recomputing the entries before it shows the edit.
    with attacker(db) as conn:
        conn.execute(text("UPDATE audit_entries SET actor = 'boss2' WHERE seq = 5"))
    with db.session(write=False) as s:
        full = verify_log(s, chain.checkpoint)
        quick = verify_log(s, chain.checkpoint, since_checkpoint=True)
    assert (full.ok, full.first_bad) == (False, 5)
    assert quick.ok  # the O(new) mode trusts what an earlier full run verified, by design


def test_a_log_that_no_longer_reaches_the_checkpoint_fails_against_it(db: Database, chain: Chain) -> None:
    with attacker(db) as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq > 20"))
        conn.execute(text("UPDATE audit_head SET seq = 20, hash = (SELECT hash FROM audit_entries WHERE seq = 20)"))
    with db.session(write=False) as s:
        assert verify_log(s).ok  # a shorter log, consistent in itself
        verdict = verify_log(s, chain.checkpoint)
        quick = verify_log(s, chain.checkpoint, since_checkpoint=True)
    assert (verdict.ok, verdict.first_bad) == (False, 21)
    assert (quick.ok, quick.first_bad) == (False, chain.checkpoint.seq)


# --------------------------------------------------------------------------- the command line


def _cli(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", *args], env={"AIDFLOW_DATABASE_URL": db_url})
    return result.exit_code, result.output


def test_audit_verify_exits_zero_on_an_intact_chain(db_url: str, chain: Chain) -> None:
    code, output = _cli(db_url, "verify")
    assert code == 0, output
    assert f"OK: {chain.n} entries" in output


def test_audit_verify_exits_non_zero_and_names_the_first_bad_entry(db: Database, db_url: str, chain: Chain) -> None:
    with attacker(db) as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 17"))
    code, output = _cli(db_url, "verify")
    assert code == 1
    assert "first bad entry 17" in output
    assert "第一个不符的条目为 17" in output


def test_audit_verify_against_a_kept_checkpoint_catches_a_rewrite_the_chain_alone_cannot(
    db: Database, db_url: str, chain: Chain, tmp_path: Path
) -> None:
    key, kept = tmp_path / "inspector.pem", tmp_path / "checkpoint.json"
    code, output = _cli(db_url, "checkpoint", "--key", str(key))
    assert code == 2, "no key, no checkpoint: a mistyped key path must not mint a new key"
    code, output = _cli(db_url, "keygen", str(key))
    assert code == 0, output
    public = output.rsplit(":", 1)[1].strip()
    code, output = _cli(db_url, "checkpoint", "--key", str(key))
    assert code == 0, output
    kept.write_text(output[output.index("{") :])
    assert Checkpoint.from_json(kept.read_text()).seq == chain.n
    code, output = _cli(db_url, "verify", "--checkpoint", str(kept), "--public-key", public)
    assert code == 0, output
    assert f"extends checkpoint at {chain.n}" in output
    stranger = _cli(db_url, "keygen", str(tmp_path / "someone-else.pem"))[1].rsplit(":", 1)[1].strip()
    code, output = _cli(db_url, "verify", "--checkpoint", str(kept), "--public-key", stranger)
    assert code == 1
    assert "not signed by the given public key" in output
    with attacker(db) as conn:  # the last entry rewritten, its hash and the head recomputed
        last = conn.execute(_audit.select().where(_audit.c.seq == chain.n)).one()._mapping
        link = Link(**{**{name: last[name] for name in Link.__dataclass_fields__}, "actor": "nobody"})
        rewritten = {"actor": "nobody", "hash": link_hash(link), "body": body(link)}
        conn.execute(update(_audit).where(_audit.c.seq == chain.n).values(**rewritten))
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": link_hash(link)})
    assert _cli(db_url, "verify")[0] == 0  # the chain alone is blind to it
    code, output = _cli(db_url, "verify", "--checkpoint", str(kept))
    assert code == 1
    assert f"first bad entry {chain.n}" in output
    assert "does not extend the checkpoint" in output


def test_audit_verify_refuses_a_checkpoint_whose_signature_does_not_verify(
    db_url: str, chain: Chain, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.json"
    forged.write_text(dataclasses.replace(chain.checkpoint, head="0" * 64).to_json())
    code, output = _cli(db_url, "verify", "--checkpoint", str(forged))
    assert code == 1
    assert "signature does not verify" in output


def test_a_key_file_that_is_not_a_key_is_refused_in_words(db_url: str, chain: Chain, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    code, output = _cli(db_url, "checkpoint", "--key", str(junk))
    assert code == 2
    assert "is not an Ed25519 private key" in output


def test_a_database_that_cannot_be_opened_is_reported_without_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    missing = tmp_path / "no-such-dir" / "aidflow.db"
    result = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "audit", "verify"],
        env={**os.environ, "AIDFLOW_DATABASE_URL": f"sqlite:///{missing}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "cannot reach or open the database" in result.stderr
    assert "Traceback" not in result.stderr
