"""The baselines: the disk's flush rate (F), a raw single-row INSERT + COMMIT (L) and the raw SQL of one
transition + COMMIT (Lt), each through the driver alone; and the scratch databases they and the engine use."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migrations
from bench.workflow import COUNTY, PASS_DATA, TOWNSHIP, VILLAGE

# --------------------------------------------------------------------------- databases


@contextmanager
def sqlite_urls(directory: Path) -> Iterator[tuple[Path, str, str, str]]:
    """A scratch directory holding three fresh migrated files: for L, for Lt and for S."""
    scratch = Path(tempfile.mkdtemp(prefix="aidflow-bench-", dir=directory))
    try:
        paths = [scratch / "raw.db", scratch / "raw_transition.db", scratch / "engine.db"]
        for path in paths:
            migrations.upgrade(f"sqlite:///{path}")
        yield scratch, str(paths[0]), str(paths[1]), f"sqlite:///{paths[2]}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def postgres_urls(base: str) -> Iterator[tuple[str, str, str]]:
    """Three fresh migrated databases on the cluster (L, Lt, S), dropped afterwards."""
    import psycopg

    tag = uuid.uuid4().hex[:8]
    names = [f"aidflow_bench_{part}_{tag}" for part in ("raw", "raw_transition", "engine")]
    with psycopg.connect(base + "/postgres", autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        urls = [f"{base}/{name}" for name in names]
        for url in urls:
            migrations.upgrade(url)
        yield urls[0], urls[1], urls[2]
    finally:
        with psycopg.connect(base + "/postgres", autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- F, L and Lt


def fdatasync_rate(directory: Path, seconds: float) -> float:
    """Durable 4 KiB overwrites per second in `directory`: the floor under any single committer."""
    path = directory / "fdatasync.probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        block = os.urandom(4096)
        count, start = 0, time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            count += 1
        return count / (time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


_AUDIT_COLUMNS = (
    "seq, at, actor, role, region_code, case_id, action, from_state, to_state, data, due_at, prev_hash, hash, body"
)
_AT_ISO = "2026-09-28T02:00:00.000000Z"


def _body(seq: int, case_id: int, data: str) -> str:
    """The sealed bytes the engine keeps with each entry (migration 0010), as text of the same size."""
    fields = [1, seq, _AT_ISO, "clerk", "village_officer", VILLAGE, case_id, "village_pass", "village_review"]
    return json.dumps([*fields, "notice", data, None], separators=(",", ":"), ensure_ascii=False)


def audit_sized_rows(n: int) -> list[tuple[Any, ...]]:
    """Rows shaped like the engine's entries (same columns, similar sizes), prepared before timing."""
    data = json.dumps({"data": PASS_DATA, "set": {"proposed_monthly_fen": 70000}}, separators=(",", ":"))
    at = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)
    rows, prev = [], "0" * 64
    for seq in range(1, n + 1):
        digest = hashlib.sha256(f"{prev}{seq}{data}".encode()).hexdigest()
        rows.append(
            (
                seq,
                at,
                "clerk",
                "village_officer",
                VILLAGE,
                seq,
                "village_pass",
                "village_review",
                "notice",
                data,
                None,
                prev,
                digest,
                _body(seq, seq, data),
            )
        )
        prev = digest
    return rows


_CASE_COLUMNS = (
    "id, workflow, workflow_version, reference, region_code, township_code, county_code, state, version,"
    " entered_version, state_entered_at, data, created_at, updated_at"
)
_TRANSITION_SQL = (
    "UPDATE cases SET state = {p}, version = {p}, updated_at = {p}, entered_version = {p},"
    " state_entered_at = {p}, deadline = NULL, data = {p} WHERE id = {p} AND version = {p}",
    "SELECT seq, hash FROM audit_head WHERE id = 1{lock}",
    "INSERT INTO timers (case_id, action, state, entered_version, due_at) VALUES ({p}, {p}, {p}, {p}, {p})",
    f"INSERT INTO audit_entries ({_AUDIT_COLUMNS}) VALUES ({{p14}})",
    "UPDATE audit_head SET seq = {p}, hash = {p} WHERE id = 1",
    "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) VALUES "
    "({p}, {p}, {p}, {p}, {p}, -1), ({p}, {p}, {p}, {p}, {p}, 1) "
    "ON CONFLICT (region_code, workflow, state) DO UPDATE SET n = case_counts.n + excluded.n",
)


def transition_sql(placeholder: str, lock: str) -> list[str]:
    return [
        q.replace("{p14}", ", ".join([placeholder] * 14)).replace("{p}", placeholder).replace("{lock}", lock)
        for q in _TRANSITION_SQL
    ]


@dataclass
class RawDriver:
    """One raw-driver connection and the few things L and Lt need from it."""

    execute: Callable[[str, Sequence[Any]], Any]
    fetch_head: Callable[[str], tuple[int, str]]
    begin: Callable[[], object]
    commit: Callable[[], object]
    placeholder: str
    lock: str
    stamp: Callable[[datetime], Any]


def raw_inserts(driver: RawDriver, rows: Sequence[tuple[Any, ...]]) -> float:
    """L: one audit-sized row per commit; rows per second."""
    sql = f"INSERT INTO audit_entries ({_AUDIT_COLUMNS}) VALUES ({', '.join([driver.placeholder] * 14)})"
    prepared = [(r[0], driver.stamp(r[1]), *r[2:]) for r in rows]
    start = time.perf_counter()
    for row in prepared:
        driver.begin()
        driver.execute(sql, row)
        driver.commit()
    return len(rows) / (time.perf_counter() - start)


def seed_raw_cases(driver: RawDriver, n: int) -> None:
    """Lt's cases 1..n waiting at village review, written untimed before the rounds."""
    now = driver.stamp(datetime(2026, 9, 28, 2, 0, tzinfo=UTC))
    driver.begin()
    driver.execute("INSERT INTO regions (code, name, level) VALUES ('341122100201', 'v', 'village')", ())
    sql = f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES ({', '.join([driver.placeholder] * 14)})"
    for i in range(1, n + 1):
        row = (i, "bench", 1, f"R-{i}", VILLAGE, TOWNSHIP, COUNTY, "village_review", 1, 1, now, '{"household":1}')
        driver.execute(sql, (*row, now, now))
    driver.commit()


def raw_transitions(driver: RawDriver, ids: Sequence[int]) -> float:
    """Lt: one transition per commit in raw SQL on the cases `ids`; transitions per second."""
    now = driver.stamp(datetime(2026, 9, 28, 2, 0, tzinfo=UTC))
    statements = transition_sql(driver.placeholder, driver.lock)
    update_case, read_head, insert_timer, insert_entry, move_head, count_move = statements
    data = json.dumps({"data": PASS_DATA, "set": {"proposed_monthly_fen": 70000}}, separators=(",", ":"))
    execute = driver.execute
    start = time.perf_counter()
    for i in ids:
        driver.begin()
        execute(update_case, ("notice", 2, now, 2, now, '{"household":1}', i, 1))
        seq, prev = driver.fetch_head(read_head)
        execute(insert_timer, (i, "notice_ends", "notice", 2, now))
        digest = hashlib.sha256(f"{prev}{seq + 1}{data}".encode()).hexdigest()
        entry = (seq + 1, now, "clerk", "village_officer", VILLAGE, i, "village_pass", "village_review", "notice")
        execute(insert_entry, (*entry, data, None, prev, digest, _body(seq + 1, i, data)))
        execute(move_head, (seq + 1, digest))
        execute(
            count_move,
            (VILLAGE, "bench", "village_review", TOWNSHIP, COUNTY, VILLAGE, "bench", "notice", TOWNSHIP, COUNTY),
        )
        driver.commit()
    return len(ids) / (time.perf_counter() - start)


@contextmanager
def sqlite_driver(path: str, begin: str) -> Iterator[RawDriver]:
    """A raw connection in WAL with synchronous=FULL, as the engine opens its files."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")

        def fetch_head(q: str) -> tuple[int, str]:
            seq, digest = conn.execute(q).fetchone()
            return int(seq), str(digest)

        yield RawDriver(
            conn.execute,
            fetch_head,
            lambda: conn.execute(begin),
            lambda: conn.execute("COMMIT"),
            "?",
            "",
            lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
    finally:
        conn.close()


@contextmanager
def postgres_driver(url: str) -> Iterator[RawDriver]:
    """A raw psycopg connection, statements prepared; synchronous_commit as the cluster has it."""
    import psycopg

    with psycopg.connect(url) as conn:

        def fetch_head(q: str) -> tuple[int, str]:
            row = conn.execute(q, prepare=True).fetchone()
            assert row is not None
            return int(row[0]), str(row[1])

        yield RawDriver(
            lambda q, params: conn.execute(q, params, prepare=True),
            fetch_head,
            lambda: None,
            conn.commit,
            "%s",
            " FOR UPDATE",
            lambda moment: moment,
        )


@contextmanager
def fresh(db_kind: str, directory: Path, pg_url: str, label: str) -> Iterator[tuple[str, str]]:
    """A migrated empty database for a bench at scale: (SQLAlchemy URL, what its raw loader opens: the
    SQLite file's path, or the same URL); removed afterwards. `label` names the scratch file or database."""
    if db_kind == "sqlite":
        scratch = Path(tempfile.mkdtemp(prefix=f"aidflow-{label}-", dir=directory))
        try:
            path = scratch / f"{label}.db"
            migrations.upgrade(f"sqlite:///{path}")
            yield f"sqlite:///{path}", str(path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    import psycopg

    name = f"aidflow_bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrations.upgrade(f"{pg_url}/{name}")
        yield f"{pg_url}/{name}", f"{pg_url}/{name}"
    finally:
        with psycopg.connect(pg_url + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settle(below: float | None, *, longest: float = 1800.0, say: Callable[[str], None] = print) -> None:
    """Wait (up to `longest` seconds) for the host's 1-minute load average to fall below `below`: a 10 M
    load takes many minutes, and what is timed after it should not be the other work of those minutes."""
    if below is None:
        return
    waited = 0.0
    while os.getloadavg()[0] >= below and waited < longest:
        time.sleep(5)
        waited += 5
    say(f"settled for {waited:.0f} s: load average (1 min) {os.getloadavg()[0]:.1f} when the timing began")
