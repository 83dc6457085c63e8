"""An app on the test database, a client, and logged-in officials of every role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import hash_password
from api.settings import Settings
from engine.access import SYSTEM
from engine.accounts import add_region, add_user
from engine.database import Database
from tests.factories import COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE, TOWNSHIP, VILLAGE
from tests.households import household_body

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"
OTHER_COUNTY = "341123000000"
OTHER_COUNTY_TOWNSHIP = "341123100000"
OTHER_COUNTY_VILLAGE = "341123100201"

# username -> (role, region); every test app has these accounts.
ACCOUNTS: dict[str, tuple[str, str]] = {
    "applicant1": ("applicant", VILLAGE),
    "applicant2": ("applicant", VILLAGE),
    "village1": ("village_officer", VILLAGE),
    "village1b": ("village_officer", VILLAGE),
    "village2": ("village_officer", OTHER_VILLAGE),
    "township1": ("township_officer", TOWNSHIP),
    "township1b": ("township_officer", TOWNSHIP),
    "township2": ("township_officer", OTHER_TOWNSHIP),
    "county": ("county_officer", COUNTY),
    "county2": ("county_officer", OTHER_COUNTY),
    "inspector": ("inspector", COUNTY),
    "inspector2": ("inspector", OTHER_COUNTY),
    "admin": ("admin", COUNTY),
}

_HASH = hash_password(PASSWORD)


@dataclass
class Clock:
    moment: datetime

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def clock(now: datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def app(db_url: str, clock: Clock, now: datetime) -> FastAPI:
    db = Database(db_url)
    with db.session() as session:
        for code, name in [
            (COUNTY, "来安县"),
            (TOWNSHIP, "新安镇"),
            (VILLAGE, "大庄村"),
            (OTHER_TOWNSHIP, "水口镇"),
            (OTHER_VILLAGE, "青山村"),
            (OTHER_COUNTY, "全椒县"),
            (OTHER_COUNTY_TOWNSHIP, "襄河镇"),
            (OTHER_COUNTY_VILLAGE, "城东村"),
        ]:
            add_region(session, code=code, name=name, actor=SYSTEM, now=now)
        for username, (role, region) in ACCOUNTS.items():
            add_user(
                session,
                username=username,
                password_hash=_HASH,
                role=role,
                region=region,
                actor=SYSTEM,
                now=now,
                display_name=username,
            )
    db.dispose()
    settings = Settings(database_url=db_url, secret_key=SECRET, run_workers=False)
    return create_app(settings, clock=clock, migrate=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def token_for(client: TestClient, clock: Clock) -> Callable[[str], dict[str, str]]:
    """Log in (once per user and clock reading: tokens expire as the test's clock moves on)."""
    cache: dict[tuple[str, datetime], dict[str, str]] = {}

    def headers(username: str) -> dict[str, str]:
        key = (username, clock.moment)
        if key not in cache:
            r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            cache[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return cache[key]

    return headers


def application_body(
    *, village: str = VILLAGE, aid_type: str = "dibao", income: int = 20_000, serial: int = 1, **extra: Any
) -> dict[str, Any]:
    """The shared household (tests.households) as JSON, its applicant earning `income`."""
    return household_body(village=village, aid_type=aid_type, incomes=(income, 0), serial=serial, **extra)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, for real concurrent HTTP."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


VILLAGE_PASS = {"investigators": ["village1", "village1b"], "visit_date": "2026-09-28", "proposed_monthly_fen": 50_000}


def pass_village(
    client: TestClient, token_for: Callable[[str], dict[str, str]], case: dict[str, Any]
) -> dict[str, Any]:
    """The village committee forwards the case: it goes on the first notice."""
    r = client.post(
        f"/api/v1/applications/{case['id']}/actions/village_pass",
        headers=token_for("village1"),
        json={"version": case["version"], "comment": "入户调查完成", "data": VILLAGE_PASS},
    )
    assert r.status_code == 200, r.text
    listed: dict[str, Any] = r.json()
    return listed


def record_verification(
    client: TestClient, token_for: Callable[[str], dict[str, str]], case: dict[str, Any]
) -> dict[str, Any]:
    """The county's checking body reports on every member (P4), each as the household declared it."""
    current: dict[str, Any] = client.get(f"/api/v1/applications/{case['id']}", headers=token_for("county")).json()
    details = current["details"]
    for position, member in enumerate(details["members"], start=1):
        report = {
            "member": position,
            "monthly_income_fen": member["monthly_income_fen"],
            "assets_fen": details["assets_fen"] if position == 1 else 0,
            "findings": "与申报一致 / as declared",
        }
        r = client.post(
            f"/api/v1/applications/{case['id']}/actions/record_verification",
            headers=token_for("county"),
            json={"version": current["version"], "data": report},
        )
        assert r.status_code == 200, r.text
        current = r.json()
    return current
