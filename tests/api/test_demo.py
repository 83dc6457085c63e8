from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.demo import PASSWORD, seed
from api.settings import Settings
from engine.database import Database
from workflows.env import Env


def test_the_demo_county_has_officials_of_every_role_and_cases_in_every_state(db_url: str) -> None:
    settings = Settings(database_url=db_url, secret_key="demo-test-secret-0123456789", run_workers=False)
    db = Database(db_url)
    logins = seed(db, settings, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    roles = {role for _u, role, _r in logins.accounts}
    assert roles >= {"applicant", "village_officer", "township_officer", "county_officer", "inspector", "admin"}
    with db.session(write=False) as s:
        states = {row[0] for row in s.execute(text("SELECT DISTINCT state FROM cases"))}
        regions = s.execute(text("SELECT level, COUNT(*) FROM regions GROUP BY level")).all()
    db.dispose()
    assert dict(regions) == {"county": 1, "township": 2, "village": 4}
    env = Env.load(None, settings.secret_key)
    every_state = {state for definition in env.definitions() for state in definition.states}
    assert states == every_state, f"no demo case in {sorted(every_state - states)}"
    # seeding again leaves it as it is
    again = seed(Database(db_url), settings)
    assert again.password == PASSWORD
    app = create_app(settings, migrate=False)
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/token", data={"username": "township1_a", "password": PASSWORD})
        assert r.status_code == 200
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        queue = client.get("/api/v1/queue", headers=headers).json()
        assert queue["items"]
        verify = client.get("/api/v1/audit/verify", headers=headers).json()
        assert verify["ok"] is True
        r = client.post("/api/v1/auth/token", data={"username": "applicant1", "password": PASSWORD})
        own = client.get("/api/v1/applications", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert len(own.json()["items"]) == 1, "the demo applicant follows a case of their own"
