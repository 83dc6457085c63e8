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
    # The demo county's October sample, drawn as the county officer with a fixed seed, re-run from the store.
    checked = run.invoke(app, ["supervision", "sample", "--verify", "1"], env=env)
    assert checked.exit_code == 0, checked.output
    check = json.loads(checked.stdout)
    assert check["sample"]["month"] == "2026-10"
    assert check["sample"]["seed"] == 20261001
    assert len(check["sample"]["population"]) >= 3, "the demo county's October decisions"
    assert len(check["sample"]["drawn"]) == ceil(0.3 * len(check["sample"]["population"]))
    assert check["same_draw"] is True
    assert check["redrawn"] == check["sample"]["drawn"]
    october = ["supervision", "sample", "--county", COUNTY[0], "--month", "2026-10", "--seed", "5"]
    assert run.invoke(app, [*october, "--now", "2026-12-02T12:00"], env=env).exit_code == 2, "a month is drawn once"
    november = ["supervision", "sample", "--county", COUNTY[0], "--month", "2026-11"]
    early = run.invoke(app, [*november, "--now", "2026-11-20T12:00"], env=env)
    assert early.exit_code == 2, "a month not yet over is not drawn"
    drawn = run.invoke(app, [*november, "--seed", "20261130", "--now", "2026-12-02T12:00"], env=env)
    assert drawn.exit_code == 0, drawn.output
    sample = json.loads(drawn.stdout)
    assert sample["seed"] == 20261130
    assert len(sample["drawn"]) == ceil(0.3 * len(sample["population"])) >= 1
    again = run.invoke(app, ["supervision", "sample", "--verify", str(sample["id"])], env=env)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["redrawn"] == sample["drawn"]
