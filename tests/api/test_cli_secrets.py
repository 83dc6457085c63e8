"""The public development key never guards a server others can reach, nor the demo's data."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.demo import PASSWORD
from api.settings import Settings
from workflows.env import DEV_SECRET


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls that would have started the server (none is started)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: calls.append(kw))
    return calls


def _env(tmp_path: Path, secret: str | None = None) -> dict[str, str | None]:
    return {"AIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'aidflow.db'}", "AIDFLOW_SECRET_KEY": secret}


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "aidflow.example.cn"])
def test_serve_refuses_an_address_others_can_reach_without_a_secret_key(
    tmp_path: Path, served: list[dict[str, Any]], host: str
) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", host], env=_env(tmp_path))
    assert result.exit_code != 0
    assert served == [], "the server was not started"
    message = result.output
    assert "AIDFLOW_SECRET_KEY" in message
    assert message.index("未设置") < message.index("is unset"), "Chinese first, then English"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_serve_on_this_machine_alone_may_use_the_development_key(
    tmp_path: Path, served: list[dict[str, Any]], host: str
) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", host], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == [host]


def test_serve_with_a_secret_key_may_listen_on_any_address(tmp_path: Path, served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"], env=_env(tmp_path, "a-long-random-production-key"))
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == ["0.0.0.0"]


def _township_reads_a_case_unmasked(database_url: str, secret: str) -> None:
    settings = Settings(database_url=database_url, secret_key=secret, run_workers=False)
    with TestClient(create_app(settings, migrate=False)) as client:
        r = client.post("/api/v1/auth/token", data={"username": "township1_a", "password": PASSWORD})
        assert r.status_code == 200
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        case = client.get("/api/v1/applications", headers=headers).json()["items"][0]
        shown = client.get(f"/api/v1/applications/{case['id']}", headers=headers)
        assert shown.status_code == 200, "the identity numbers decrypt under the key"


def test_the_demo_makes_a_private_key_beside_its_database_and_keeps_it_for_later_runs(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = CliRunner().invoke(app, ["demo", "--no-serve"], env=env)
    assert first.exit_code == 0, first.output
    key_file = tmp_path / "aidflow.db.secret"
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert key != DEV_SECRET
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = CliRunner().invoke(app, ["demo", "--no-serve"], env=env)
    assert again.exit_code == 0, again.output
    assert key_file.read_text().strip() == key, "the same key on a later run"
    _township_reads_a_case_unmasked(str(env["AIDFLOW_DATABASE_URL"]), key)


def test_the_demo_uses_the_secret_key_from_the_environment_when_one_is_set(tmp_path: Path) -> None:
    env = _env(tmp_path, "the-operators-own-key-0123456789")
    result = CliRunner().invoke(app, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "aidflow.db.secret").exists()
    _township_reads_a_case_unmasked(str(env["AIDFLOW_DATABASE_URL"]), "the-operators-own-key-0123456789")


def test_the_demo_key_file_is_ignored_by_git() -> None:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    ignored = subprocess.run(["git", "check-ignore", "-q", "aidflow.db.secret"], cwd=root, check=False)
    assert ignored.returncode == 0


def test_the_demo_will_not_rekey_a_database_seeded_under_the_development_key(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from api.demo import COUNTY
    from engine.access import SYSTEM
    from engine.accounts import add_region
    from engine.database import Database

    env = _env(tmp_path)
    assert CliRunner().invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    db = Database(str(env["AIDFLOW_DATABASE_URL"]))
    with db.session() as session:
        add_region(session, code=COUNTY[0], name=COUNTY[1], actor=SYSTEM, now=datetime(2026, 9, 1, tzinfo=UTC))
    db.dispose()
    result = CliRunner().invoke(app, ["demo", "--no-serve"], env=env)
    assert result.exit_code == 2
    assert "development key" in result.output
    assert not (tmp_path / "aidflow.db.secret").exists(), "no key that the seeded data was never encrypted under"
