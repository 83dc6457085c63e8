"""`aidflow supervision sample`: the month's draw on the demo county, stored with its seed, and verified again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from math import ceil

from typer.testing import CliRunner

from api.cli import app
from api.demo import COUNTY, seed
from api.settings import Settings
from engine.database import Database

SECRET = "supervision-cli-secret-0123456789"


def test_P14_the_sample_is_drawn_from_the_command_line_and_re_run_from_its_stored_seed(db_url: str) -> None:
    settings = Settings(database_url=db_url, secret_key=SECRET, run_workers=False)
    seed(Database(db_url), settings, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    env = {"AIDFLOW_DATABASE_URL": db_url, "AIDFLOW_SECRET_KEY": SECRET}
    run = CliRunner()
    args = ["supervision", "sample", "--county", COUNTY[0], "--month", "2026-10", "--seed", "20261031"]
    drawn = run.invoke(app, [*args, "--now", "2026-11-20T12:00"], env=env)
    assert drawn.exit_code == 0, drawn.output
    sample = json.loads(drawn.stdout)
    assert sample["seed"] == 20261031
    assert len(sample["population"]) >= 3, "the demo county's October decisions"
    assert len(sample["drawn"]) == ceil(0.3 * len(sample["population"]))
    again = run.invoke(app, [*args, "--now", "2026-11-20T12:00"], env=env)
    assert again.exit_code == 2, "a month is drawn once"
    checked = run.invoke(app, ["supervision", "sample", "--verify", str(sample["id"])], env=env)
    assert checked.exit_code == 0, checked.output
    check = json.loads(checked.stdout)
    assert check["same_draw"] is True
    assert check["redrawn"] == sample["drawn"]
    early = run.invoke(
        app,
        ["supervision", "sample", "--county", COUNTY[0], "--month", "2026-11", "--now", "2026-11-20T12:00"],
        env=env,
    )
    assert early.exit_code == 2, "a month not yet over is not drawn"
