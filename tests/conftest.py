"""Fixtures: a fresh, migrated database per test, on SQLite or PostgreSQL (AIDFLOW_TEST_DB)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import migrations
from engine.database import Database

BACKEND = os.environ.get("AIDFLOW_TEST_DB", "sqlite")
PG_BASE = os.environ.get("AIDFLOW_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/").rstrip("/")


def pytest_report_header() -> str:
    where = PG_BASE if BACKEND == "postgres" else "a fresh SQLite file per test"
    return f"aidflow test database: {BACKEND} ({where})"


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_BASE + "/postgres", autocommit=True)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database that each test's database is copied from."""
    if BACKEND == "postgres":
        name = f"aidflow_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        migrations.upgrade(f"{PG_BASE}/{name}")
        yield name
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        migrations.upgrade(f"sqlite:///{path}")
        yield str(path)


@pytest.fixture
def db_url(template: str, tmp_path: Path) -> Iterator[str]:
    if BACKEND == "postgres":
        name = f"aidflow_t_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield f"{PG_BASE}/{name}"
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path / "aidflow.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    # group commit is on unless AIDFLOW_GROUP_COMMIT=0 (the setting's default, as served)
    database = Database(db_url, group_commit=os.environ.get("AIDFLOW_GROUP_COMMIT", "1") not in ("0", "false"))
    yield database
    database.dispose()


@pytest.fixture
def now() -> datetime:
    """A fixed present: Monday 2026-09-28, 10:00 in Shanghai."""
    return datetime(2026, 9, 28, 2, 0, tzinfo=UTC)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The counts the reliability suites reached in this run (fuzz calls, state-machine steps, kills)."""
    from tests.tally import lines

    found = lines()
    if found:
        terminalreporter.section("reliability counts")
        for line in found:
            terminalreporter.write_line(line)
