"""GET /api/v1/reports/monthly as JSON and as Excel, and `aidflow reports monthly`, on the demo county."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.demo import COUNTY, PASSWORD, seed
from api.settings import Settings
from engine.database import Database

SECRET = "monthly-report-secret-0123456789"


def test_the_monthly_report_comes_as_json_and_as_an_excel_file_that_opens_again(db_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=db_url, secret_key=SECRET, run_workers=False)
    seed(Database(db_url), settings, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    county = COUNTY[0]
    with TestClient(create_app(settings, migrate=False)) as client:
        r = client.post("/api/v1/auth/token", data={"username": "inspector", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        body = client.get(f"/api/v1/reports/monthly?region={county}&month=2026-11", headers=headers).json()
        for figure in ("received", "approved", "refused", "active_households", "paid_fen"):
            assert isinstance(body[figure], int), figure
            assert sum(t[figure] for t in body["by_aid_type"].values()) == body[figure], figure
        assert body["received"] > 0, "the demo county received applications in its month"
        xlsx = client.get(f"/api/v1/reports/monthly?region={county}&month=2026-11&format=xlsx", headers=headers)
        assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
        rows = list(load_workbook(io.BytesIO(xlsx.content))["月通报"].iter_rows(values_only=True))
        assert rows[-1][2] == body["received"]
        bad = client.get(f"/api/v1/reports/monthly?region={county}&month=2026-13", headers=headers)
        assert bad.status_code == 422
    out = tmp_path / "report.xlsx"
    env = {"AIDFLOW_DATABASE_URL": db_url, "AIDFLOW_SECRET_KEY": SECRET}
    result = CliRunner().invoke(
        app, ["reports", "monthly", "--region", county, "--month", "2026-11", "--xlsx", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["received"] == body["received"]
    assert list(load_workbook(out)["月通报"].iter_rows(values_only=True))[-1][2] == body["received"]
