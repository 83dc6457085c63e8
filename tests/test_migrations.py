"""The Alembic history builds exactly the tables the models declare."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import engine.tables  # noqa: F401  (registers the runtime's tables)
import migrations
import notifications.outbox  # noqa: F401  (registers the outbox)
import workflows.models  # noqa: F401  (registers the aid domain's tables)
from engine import auditlog
from engine.audit import Link, canonical_data, link_hash
from engine.database import Database
from engine.tables import AuditEntry
from tests.conftest import BACKEND, PG_BASE


def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []


@pytest.fixture
def blank_url(tmp_path: Path) -> Iterator[str]:
    """An empty database, for migrating step by step."""
    if BACKEND != "postgres":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    import psycopg

    name = f"aidflow_m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_BASE}/{name}"
    with psycopg.connect(PG_BASE + "/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _append_as_before_0010(db: Database, n: int, now: datetime) -> None:
    """Entries as the engine wrote them before migration 0010: the fields and the hash, no body."""
    audit = AuditEntry.__table__  # type: ignore[attr-defined]
    with db.engine.begin() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_head WHERE id = 1")).scalar_one()
        for seq in range(1, n + 1):
            link = Link(
                seq,
                now,
                "clerk",
                "village_officer",
                "341122100201",
                seq,
                "submit",
                "draft",
                "review",
                canonical_data({"n": seq}),
                now + timedelta(days=seq),
                prev,
            )
            prev = link_hash(link)
            conn.execute(audit.insert().values(**link.__dict__, hash=prev))
        conn.execute(text("UPDATE audit_head SET seq = :n, hash = :h WHERE id = 1"), {"n": n, "h": prev})


def test_0010_keeps_the_entries_written_before_it_and_new_ones_keep_their_body(blank_url: str, now: datetime) -> None:
    migrations.upgrade(blank_url, "0009")
    db = Database(blank_url)
    try:
        _append_as_before_0010(db, 5, now)
        db.engine.dispose()
        migrations.upgrade(blank_url)
        with db.session() as s:
            auditlog.append(s, at=now, actor="boss", role="township_officer", action="approve", case_id=1)
        with db.engine.connect() as conn:
            bodies = conn.execute(text("SELECT seq, body FROM audit_entries ORDER BY seq")).all()
        assert [seq for seq, body in bodies if body is None] == [1, 2, 3, 4, 5]
        assert json.loads(bodies[5][1])[1:2] == [6]
        with db.session(write=False) as s:
            verdict = auditlog.verify_log(s)
        assert (verdict.ok, verdict.entries) == (True, 6)
        for statement in ("UPDATE audit_entries SET body = NULL WHERE seq = 6", "DELETE FROM audit_entries"):
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.exec_driver_sql(statement)
        db.engine.dispose()
        command.downgrade(migrations.config(blank_url), "0009")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("audit_entries")}
        assert "body" not in columns
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_entries")
    finally:
        db.dispose()
