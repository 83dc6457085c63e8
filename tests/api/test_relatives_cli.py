"""`aidflow users relatives add`: an official files a close relative; a bad number or relation is refused."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from engine.database import Database
from tests.workflows.support import id_number


def test_an_official_files_a_close_relative_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aidflow.db'}"
    env = {"AIDFLOW_DATABASE_URL": url, "AIDFLOW_SECRET_KEY": "relatives-cli-secret-0123456789"}
    run = CliRunner()
    for args in (
        ["regions", "add", "341122000000", "--name", "来安县"],
        ["regions", "add", "341122100000", "--name", "新安镇"],
        ["users", "add", "li", "--role", "township_officer", "--region", "341122100000", "--password", "Xin-an town 7"],
    ):
        assert run.invoke(app, args, env=env).exit_code == 0, args
    number = id_number("19900101", 7)
    relative = ["users", "relatives", "add", "li", "--name", "李某", "--id-number", number]
    done = run.invoke(app, [*relative, "--relation", "配偶"], env=env)
    assert done.exit_code == 0, done.output
    assert run.invoke(app, [*relative, "--relation", "配偶"], env=env).exit_code == 2, "filed once"
    assert run.invoke(app, [*relative[:-1], number[:-1] + "X", "--relation", "配偶"], env=env).exit_code == 2
    db = Database(url)
    with db.session(write=False) as s:
        rows = s.execute(text("SELECT relation, id_hash, name_enc FROM official_relatives")).all()
        entries = s.execute(text("SELECT COUNT(*) FROM audit_entries WHERE action = 'relative_declared'")).scalar()
    db.dispose()
    assert [r[0] for r in rows] == ["配偶"]
    assert number not in str(rows), "the number is kept only hashed and encrypted"
    assert "李某" not in str(rows)
    assert entries == 1
