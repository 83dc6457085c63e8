"""`aidflow backup FILE`: a copy of a live demo county that restores (as the README says) and verifies."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.demo import seed
from api.settings import Settings
from engine.database import Database
from tests.conftest import BACKEND, PG_BASE, _pg_admin

SECRET = "backup-test-secret-0123456789"


@pytest.fixture
def county(db_url: str) -> str:
    db = Database(db_url)
    seed(
        db,
        Settings(database_url=db_url, secret_key=SECRET, run_workers=False),
        now=datetime(2026, 11, 20, 2, tzinfo=UTC),
    )
    db.dispose()
    return db_url


def _aidflow(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"AIDFLOW_DATABASE_URL": url, "AIDFLOW_SECRET_KEY": SECRET})
    return result.exit_code, result.output


def _counts(url: str) -> tuple[int, int, int]:
    db = Database(url)
    with db.session(write=False) as s:
        found = tuple(
            int(s.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
            for table in ("cases", "audit_entries", "payment_lines")
        )
    db.dispose()
    return found  # type: ignore[return-value]


@pytest.fixture
def restored() -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    if BACKEND == "postgres":
        with _pg_admin() as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _restore(copy: Path, tmp_path: Path, made: list[str]) -> str:
    """The README's restore: copy the file into place (SQLite), or pg_restore into a new database."""
    if BACKEND == "sqlite":
        target = tmp_path / "restored.db"
        shutil.copyfile(copy, target)
        return f"sqlite:///{target}"
    name = f"aidflow_r_{uuid.uuid4().hex[:12]}"
    made.append(name)
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={PG_BASE}/{name}", str(copy)], check=True)
    return f"{PG_BASE}/{name}"


def test_a_backup_restores_and_verifies_with_everything_in_it(county: str, tmp_path: Path, restored: list[str]) -> None:
    copy = tmp_path / "county.backup"
    code, output = _aidflow(county, "backup", str(copy), "--quiet")
    assert code == 0, output
    assert "copy verified" in output
    url = _restore(copy, tmp_path, restored)
    assert _counts(url) == _counts(county)
    code, output = _aidflow(url, "audit", "verify")
    assert code == 0, output
    assert output.startswith("OK:")


def test_a_backup_never_overwrites_a_file(county: str, tmp_path: Path) -> None:
    copy = tmp_path / "kept.backup"
    copy.write_bytes(b"yesterday's copy")
    code, _ = _aidflow(county, "backup", str(copy), "--quiet")
    assert code == 2
    assert copy.read_bytes() == b"yesterday's copy"


def test_a_database_edited_by_hand_gives_no_backup_that_claims_to_be_good(county: str, tmp_path: Path) -> None:
    db = Database(county)
    with db.session() as s:
        s.execute(
            text("UPDATE cases SET state = 'active' WHERE id = (SELECT MIN(id) FROM cases WHERE state = 'rejected')")
        )
    db.dispose()
    copy = tmp_path / "county.backup"
    code, output = _aidflow(county, "backup", str(copy), "--quiet")
    assert code == 1
    assert "does not verify" in output
    assert not copy.exists(), "only a copy that verifies takes the name asked for"
    assert (tmp_path / "county.backup.unverified").exists(), "the copy is kept aside as evidence"
