"""The demo county shows every report with content: planted 人情保 signals, the watch list, verify clean."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from api.app import create_app
from api.demo import PASSWORD, seed
from api.settings import Settings
from engine.database import Database
from workflows.oversight.signals import RULES

PLANTED = set(RULES)  # every signal the flags report knows


def test_the_demo_county_carries_a_planted_example_of_each_signal_and_a_watch_list(db_url: str) -> None:
    settings = Settings(database_url=db_url, secret_key="demo-reports-secret-0123456789", run_workers=False)
    seed(Database(db_url), settings, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    with TestClient(create_app(settings, migrate=False)) as client:
        r = client.post("/api/v1/auth/token", data={"username": "inspector", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        flags = client.get("/api/v1/reports/flags", headers=headers).json()
        kinds = {f["kind"] for f in flags}
        assert kinds >= PLANTED, f"missing {sorted(PLANTED - kinds)}"
        assert all(f["rule"] for f in flags), "every flag carries its rule"
        only = client.get("/api/v1/reports/flags?kind=shared_phone", headers=headers).json()
        assert len(only) == 2
        assert {f["kind"] for f in only} == {"shared_phone"}
        relative = client.get("/api/v1/reports/flags?kind=declared_relative", headers=headers).json()
        assert [f["official"] for f in relative] == ["village1_a"]
        planted = {
            kind: client.get(f"/api/v1/reports/flags?kind={kind}", headers=headers).json()
            for kind in ("two_stages", "shared_with_official", "paid_after_exit", "fast_channel_share")
        }
        assert [f["official"] for f in planted["two_stages"]] == ["township1_c"]
        assert [f["official"] for f in planted["shared_with_official"]] == ["village3_a"]
        assert len(planted["paid_after_exit"]) == 1, "the household that left after next month's payroll was made"
        assert [f["region_code"] for f in planted["fast_channel_share"]] == ["341122101000"]
        watch = client.get("/api/v1/reports/watchlist", headers=headers).json()
        assert watch, "refused, withdrawn or exited demo households in hardship are kept in view"
        assert all(w["reasons"] and w["next_follow_up"] for w in watch)
        assert client.get("/api/v1/audit/verify", headers=headers).json()["ok"] is True
