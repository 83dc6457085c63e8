"""Browser tests: the app under uvicorn on a free loopback port, Debian's Chromium through Playwright,
a logged-in page per role, and `check_page` (axe-core, weight, phone width, a screenshot)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from api import services
from api.app import create_app
from api.deps import AppState
from api.security import hash_password
from api.settings import Settings
from engine.access import SYSTEM
from engine.accounts import add_region, add_user
from engine.calendar import local_date
from engine.database import Database
from tests.api.conftest import (  # noqa: F401  (live_server: the fixture shared with the HTTP tests)
    ACCOUNTS,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    PASSWORD,
    SECRET,
    Clock,
    application_body,
    live_server,
)
from tests.conftest import BACKEND, PG_BASE, _pg_admin
from tests.factories import COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE, TOWNSHIP, VILLAGE

CHROMIUM = os.environ.get("AIDFLOW_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}
MAX_PAGE_BYTES = 100 * 1024
SECOND_VILLAGE = "341122100202"  # a second village of the officials' township
START = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)  # as tests/conftest.py's `now`: a Monday, 10:00 in Shanghai

H = Callable[[str], dict[str, str]]


# Package scope: Playwright's synchronous API holds an event loop in this thread while it runs, which
# the tests after these (asyncio.run in the SMTP tests) must not find.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--disable-gpu", "--no-sandbox"])
    yield launched
    launched.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """New browser contexts (each its own cookies), closed after the test."""
    opened: list[BrowserContext] = []

    def new(**options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "zh-CN")
        options.setdefault("timezone_id", "Asia/Shanghai")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


def log_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label(re.compile("用户名|Username")).fill(username)
    page.get_by_label(re.compile("密码|Password")).fill(password)
    page.get_by_role("button", name=re.compile("^(登录|Log in)$")).click()
    page.wait_for_load_state()


@pytest.fixture
def page_as(live_server: str, contexts: Callable[..., BrowserContext]) -> Callable[..., Page]:  # noqa: F811
    """A page logged in as `username` (one of tests.api.conftest.ACCOUNTS)."""

    def login(username: str, **options: Any) -> Page:
        page = contexts(**options).new_page()
        log_in(page, live_server, username)
        assert "/login" not in page.url, f"{username} could not log in"
        return page

    return login


@pytest.fixture
def check_page(request: pytest.FixtureRequest) -> Callable[[Page, str], None]:
    """Axe finds no serious or critical violation; HTML, CSS and JS weigh under 100 KB; nothing
    scrolls sideways at 360 px; a screenshot (named after the test) goes to screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)

    def check(page: Page, label: str) -> None:
        violations = Axe().run(page).response["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], f"{label}: accessibility violations: {serious}"
        weight = page.evaluate(
            """() => {
                const nav = performance.getEntriesByType("navigation")[0];
                const parts = performance.getEntriesByType("resource")
                    .filter(r => /\\.(css|js)(\\?|$)/.test(r.name));
                return nav.decodedBodySize + parts.reduce((sum, r) => sum + r.decodedBodySize, 0);
            }"""
        )
        assert 0 < weight < MAX_PAGE_BYTES, f"{label}: {weight} bytes of HTML, CSS and JS"
        size = page.viewport_size or DESKTOP
        page.set_viewport_size(PHONE)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if size != PHONE:
            page.screenshot(path=SCREENSHOTS / f"{test_name}-{label}-phone.png", full_page=True)
        page.set_viewport_size(size)
        assert overflow <= 0, f"{label}: scrolls {overflow} px sideways at 360 px"
        page.screenshot(path=SCREENSHOTS / f"{test_name}-{label}.png", full_page=True)

    return check


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], None]:
    """A screenshot only, for pages where scripts cannot run (so axe cannot either)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^\w.-]+", "_", request.node.name)

    def take(page: Page, label: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{test_name}-{label}.png", full_page=True)

    return take


REGIONS = [
    (COUNTY, "来安县"),
    (TOWNSHIP, "新安镇"),
    (VILLAGE, "大庄村"),
    (SECOND_VILLAGE, "小河村"),
    (OTHER_TOWNSHIP, "水口镇"),
    (OTHER_VILLAGE, "青山村"),
    (OTHER_COUNTY, "全椒县"),
    (OTHER_COUNTY_TOWNSHIP, "襄河镇"),
    (OTHER_COUNTY_VILLAGE, "城东村"),
]
NAMES = {"overdue": "赵桂兰", "soon": "钱德明", "later": "孙秀英", "undated": "李春生", "emergency": "周海燕"}


class Township:
    """Work in one township, as a demo county holds it: cases at the village and at the township,
    one overdue, some due soon, one not yet due, some without a deadline, in two villages."""

    def __init__(self, app: FastAPI, client: TestClient, clock: Clock) -> None:
        self.state: AppState = app.state.aidflow
        self.client, self.clock = client, clock
        self.ids: dict[str, int] = {}
        self._tokens: dict[tuple[str, datetime], dict[str, str]] = {}

    def token_for(self, username: str) -> dict[str, str]:
        key = (username, self.clock.moment)
        if key not in self._tokens:
            r = self.client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._tokens[key] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._tokens[key]

    def file(self, key: str, name: str, *, serial: int, village: str = VILLAGE, **extra: Any) -> int:
        body = application_body(village=village, serial=serial, **extra)
        body["applicant"]["name"] = body["members"][0]["name"] = name
        r = self.client.post(
            "/api/v1/applications",
            json=body,
            headers=self.token_for("township1" if village == SECOND_VILLAGE else "village1"),
        )
        assert r.status_code == 201, r.text
        self.ids[key] = int(r.json()["id"])
        return self.ids[key]

    def village_pass(self, key: str, proposed_fen: int) -> None:
        case_id = self.ids[key]
        version = self.client.get(f"/api/v1/applications/{case_id}", headers=self.token_for("village1")).json()
        r = self.client.post(
            f"/api/v1/applications/{case_id}/actions/village_pass",
            headers=self.token_for("village1"),
            json={
                "version": version["version"],
                "data": {
                    "investigators": ["village1", "village1b"],
                    "visit_date": local_date(self.clock.moment).isoformat(),
                    "proposed_monthly_fen": proposed_fen,
                },
            },
        )
        assert r.status_code == 200, r.text

    def sweep(self) -> None:
        services.run_timers(self.state.db, self.clock.moment, self.state.env, clock=self.clock)

    def deadline(self, key: str) -> datetime:
        found = self.client.get(f"/api/v1/applications/{self.ids[key]}", headers=self.token_for("township1"))
        return datetime.fromisoformat(found.json()["deadline"])

    def seed(self) -> None:
        day = timedelta(days=1)
        self.file("overdue", NAMES["overdue"], serial=1)
        self.village_pass("overdue", 48_000)
        self.clock.moment += 10 * day
        self.sweep()  # its first notice has ended: township review, due in ten working days
        self.file("soon", NAMES["soon"], serial=11)
        self.village_pass("soon", 52_000)
        self.clock.moment += 5 * day
        self.file("later", NAMES["later"], serial=21)
        self.village_pass("later", 60_000)
        self.clock.moment += 10 * day
        self.sweep()
        # The present: "soon" is due tomorrow, "overdue" is past its deadline, "later" is days away.
        self.clock.moment = self.deadline("soon") - day
        self.file("undated", NAMES["undated"], serial=31)
        self.file("emergency", NAMES["emergency"], serial=41, aid_type="emergency")
        self.file("second", "吴国强", serial=51, village=SECOND_VILLAGE)


@dataclass(frozen=True)
class Seeded:
    """A database holding the township's work, copied for each test, and the moment it stands at."""

    source: str
    moment: datetime
    ids: dict[str, int]


def _copy(source: str, tmp: Path) -> str:
    if BACKEND == "postgres":
        name = f"aidflow_b_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        return name
    path = tmp / f"{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(source, path)
    return str(path)


def _url(name: str) -> str:
    return f"{PG_BASE}/{name}" if BACKEND == "postgres" else f"sqlite:///{name}"


def _drop(name: str) -> None:
    if BACKEND == "postgres":
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def seeded(template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Seeded once per run (filing and sweeping through the API takes seconds); each test gets a copy."""
    now = START
    source = _copy(template, tmp_path_factory.mktemp("browser"))
    db = Database(_url(source))
    with db.session() as session:
        for code, name in REGIONS:
            add_region(session, code=code, name=name, actor=SYSTEM, now=now)
        hashed = hash_password(PASSWORD)
        for username, (role, region) in ACCOUNTS.items():
            add_user(
                session,
                username=username,
                password_hash=hashed,
                role=role,
                region=region,
                actor=SYSTEM,
                now=now,
                display_name=DISPLAY_NAMES.get(username, username),
            )
    db.dispose()
    clock = Clock(now)
    app = create_app(
        Settings(database_url=_url(source), secret_key=SECRET, run_workers=False), clock=clock, migrate=False
    )
    with TestClient(app) as client:
        work = Township(app, client, clock)
        work.seed()
    yield Seeded(source, clock.moment, dict(work.ids))
    _drop(source)


DISPLAY_NAMES = {"village1": "陈村干", "township1": "张乡干", "township1b": "刘乡干"}


@pytest.fixture
def township(seeded: Seeded, tmp_path: Path) -> Iterator[Seeded]:
    """A fresh copy of the seeded township for this test; the app below serves it."""
    name = _copy(seeded.source, tmp_path)
    yield Seeded(name, seeded.moment, seeded.ids)
    _drop(name)


@pytest.fixture
def clock(township: Seeded) -> Clock:
    return Clock(township.moment)


@pytest.fixture
def app(township: Seeded, clock: Clock) -> FastAPI:
    settings = Settings(database_url=_url(township.source), secret_key=SECRET, run_workers=False)
    return create_app(settings, clock=clock, migrate=False)
