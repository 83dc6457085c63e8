"""`aidflow serve` warns at start-up of a policy still running on example values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from api.cli import app
from tests.workflows.test_policy_examples import LOCAL


def test_serve_warns_at_start_up_of_example_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda _app, **kw: calls.append(kw))
    env = {"AIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'aidflow.db'}", "AIDFLOW_SECRET_KEY": None}
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert "仍在使用示例取值" in result.output
    assert "standard.dibao_standard_fen" in result.output
    (tmp_path / "local.toml").write_text(LOCAL, encoding="utf-8")
    result = CliRunner().invoke(app, ["serve"], env={**env, "AIDFLOW_POLICY": str(tmp_path / "local.toml")})
    assert result.exit_code == 0, result.output
    assert "示例取值" not in result.output
    assert len(calls) == 2
