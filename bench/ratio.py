"""Ratio benchmark: audited transitions through the engine (S) against the raw commit limit (L).

    python -m bench.ratio --db sqlite|postgres --n 3000 [--threads 8] [--profile]

Figures, measured in one run on the same disk or cluster:
  F   fdatasync/s of a 4 KiB block in the database's directory (SQLite only), for 2 s;
  L   single-row INSERT + COMMIT of an audit-sized row, raw driver, no ORM (a fresh migrated
      database with the engine's schema and durability settings);
  Lt  the exact SQL of one transition, raw driver, one per commit: version-checked UPDATE of the
      case, head read (FOR UPDATE on PostgreSQL), timer INSERT, audit INSERT, head UPDATE;
  S   engine.runtime.fire, one transition per db.session(), on a fresh migrated database with the
      cases created beforehand; load, guards, state machine, version-checked update, timer, audit
      append and hash, commit;
  S8  the same with 8 threads, each on its own cases, with p50/p99 latency per transition.
Ratios cancel most of the machine out: S/L is the engine against the plainest durable write,
S/Lt against the same SQL written by hand. Not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migrations
from bench.workflow import BENCH, PASS_DATA
from engine.access import Actor, Grant, Role, region_level
from engine.auditlog import verify_log
from engine.authorize import authorize
from engine.calendar import WorkCalendar
from engine.database import Database, durability_settings
from engine.runtime import create_case, fire
from engine.tables import Case, Region, RoleGrant, User, utcnow

COUNTY, TOWNSHIP, VILLAGE = "341122000000", "341122100000", "341122100201"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"


@dataclass
class Split:
    """Mean microseconds per transition in each part of one db.session()."""

    open_and_load: float
    fire: float
    commit: float


@dataclass
class Figures:
    db: str
    n: int
    threads: int
    when: str
    machine: str
    versions: dict[str, str]
    durability: dict[str, str]
    F: float | None = None
    L: float = 0.0
    Lt: float = 0.0
    S: float = 0.0
    S8: float = 0.0
    S_p50_ms: float = 0.0
    S_p99_ms: float = 0.0
    S8_p50_ms: float = 0.0
    S8_p99_ms: float = 0.0
    split: Split | None = None
    verify_rows_per_s: float = 0.0
    profile: str = ""
    notes: list[str] = field(default_factory=list)


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


# --------------------------------------------------------------------------- F and L


def fdatasync_rate(directory: Path, seconds: float = 2.0) -> float:
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
    "seq, at, actor, role, region_code, case_id, action, from_state, to_state, data, due_at, prev_hash, hash"
)


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
            )
        )
        prev = digest
    return rows


def raw_rate_sqlite(path: str, n: int) -> float:
    """L on SQLite: BEGIN; INSERT one audit row; COMMIT; in WAL with synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        rows = [(r[0], r[1].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[2:]) for r in audit_sized_rows(n)]
        sql = f"INSERT INTO audit_entries ({_AUDIT_COLUMNS}) VALUES ({', '.join('?' * 13)})"
        start = time.perf_counter()
        for row in rows:
            conn.execute("BEGIN")
            conn.execute(sql, row)
            conn.execute("COMMIT")
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def raw_rate_postgres(url: str, n: int) -> float:
    """L on PostgreSQL: INSERT one audit row; COMMIT; synchronous_commit as the cluster has it."""
    import psycopg

    rows = audit_sized_rows(n)
    sql = f"INSERT INTO audit_entries ({_AUDIT_COLUMNS}) VALUES ({', '.join(['%s'] * 13)})"
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for row in rows:
            conn.execute(sql, row, prepare=True)
            conn.commit()
        return n / (time.perf_counter() - start)


_CASE_COLUMNS = (
    "id, workflow, workflow_version, reference, region_code, township_code, county_code, state, version,"
    " entered_version, state_entered_at, data, created_at, updated_at"
)
_TRANSITION_SQL = (
    "UPDATE cases SET state = {p}, version = {p}, updated_at = {p}, entered_version = {p},"
    " state_entered_at = {p}, deadline = NULL, data = {p} WHERE id = {p} AND version = {p}",
    "SELECT seq, hash FROM audit_head WHERE id = 1{lock}",
    "INSERT INTO timers (case_id, action, state, entered_version, due_at) VALUES ({p}, {p}, {p}, {p}, {p})",
    f"INSERT INTO audit_entries ({_AUDIT_COLUMNS}) VALUES ({{p13}})",
    "UPDATE audit_head SET seq = {p}, hash = {p} WHERE id = 1",
)


def transition_sql(placeholder: str, lock: str) -> list[str]:
    return [
        q.replace("{p13}", ", ".join([placeholder] * 13)).replace("{p}", placeholder).replace("{lock}", lock)
        for q in _TRANSITION_SQL
    ]


def raw_transitions(
    execute: Callable[[str, Sequence[Any]], Any],
    fetch_head: Callable[[str], tuple[int, str]],
    begin: Callable[[], object],
    commit: Callable[[], object],
    placeholder: str,
    lock: str,
    n: int,
    stamp: Callable[[datetime], Any],
) -> float:
    """Lt: `n` cases (created untimed), then one transition per commit in raw SQL."""
    now = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)
    begin()
    execute("INSERT INTO regions (code, name, level) VALUES ('341122100201', 'v', 'village')", ())
    for i in range(1, n + 1):
        execute(
            f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES ({', '.join([placeholder] * 14)})",
            (
                i,
                "bench",
                1,
                f"R-{i}",
                VILLAGE,
                TOWNSHIP,
                COUNTY,
                "village_review",
                1,
                1,
                stamp(now),
                '{"household":1}',
                stamp(now),
                stamp(now),
            ),
        )
    commit()
    update_case, read_head, insert_timer, insert_entry, move_head = transition_sql(placeholder, lock)
    data = json.dumps({"data": PASS_DATA, "set": {"proposed_monthly_fen": 70000}}, separators=(",", ":"))
    start = time.perf_counter()
    for i in range(1, n + 1):
        begin()
        execute(update_case, ("notice", 2, stamp(now), 2, stamp(now), '{"household":1}', i, 1))
        seq, prev = fetch_head(read_head)
        execute(insert_timer, (i, "notice_ends", "notice", 2, stamp(now)))
        digest = hashlib.sha256(f"{prev}{seq + 1}{data}".encode()).hexdigest()
        execute(
            insert_entry,
            (
                seq + 1,
                stamp(now),
                "clerk",
                "village_officer",
                VILLAGE,
                i,
                "village_pass",
                "village_review",
                "notice",
                data,
                None,
                prev,
                digest,
            ),
        )
        execute(move_head, (seq + 1, digest))
        commit()
    return n / (time.perf_counter() - start)


def raw_transitions_sqlite(path: str, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")

        def fetch_head(q: str) -> tuple[int, str]:
            seq, digest = conn.execute(q).fetchone()
            return int(seq), str(digest)

        return raw_transitions(
            conn.execute,
            fetch_head,
            lambda: conn.execute("BEGIN IMMEDIATE"),
            lambda: conn.execute("COMMIT"),
            "?",
            "",
            n,
            lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
    finally:
        conn.close()


def raw_transitions_postgres(url: str, n: int) -> float:
    import psycopg

    with psycopg.connect(url) as conn:

        def fetch_head(q: str) -> tuple[int, str]:
            row = conn.execute(q, prepare=True).fetchone()
            assert row is not None
            return int(row[0]), str(row[1])

        return raw_transitions(
            lambda q, params: conn.execute(q, params, prepare=True),
            fetch_head,
            lambda: None,
            conn.commit,
            "%s",
            " FOR UPDATE",
            n,
            lambda moment: moment,
        )


# --------------------------------------------------------------------------- S


def seed(db: Database, n_cases: int, now: datetime) -> tuple[Actor, list[int]]:
    """Regions, one village officer, and `n_cases` cases waiting at village review."""
    with db.session() as s:
        for code, name in ((COUNTY, "来安县"), (TOWNSHIP, "新安镇"), (VILLAGE, "大庄村")):
            parent = None if code == COUNTY else (COUNTY if code == TOWNSHIP else TOWNSHIP)
            s.add(Region(code=code, name=name, level=region_level(code), parent_code=parent))
        user = User(username="clerk", password_hash="!", display_name="村干部", created_at=now)
        s.add(user)
        s.flush()
        assert user.id is not None
        s.add(RoleGrant(user_id=user.id, role=Role.VILLAGE_OFFICER, region_code=VILLAGE, granted_at=now))
        clerk = Actor(username="clerk", grants=(Grant(Role.VILLAGE_OFFICER, VILLAGE),), user_id=user.id)
    calendar = WorkCalendar()
    ids: list[int] = []
    for start in range(0, n_cases, 500):
        with db.session() as s:
            for i in range(start, min(start + 500, n_cases)):
                case = create_case(
                    s,
                    definition=BENCH,
                    region_code=VILLAGE,
                    reference=f"B-{i:07d}",
                    actor=clerk,
                    role=Role.VILLAGE_OFFICER,
                    data={"household": i},
                    now=now,
                    calendar=calendar,
                )
                assert case.id is not None
                ids.append(case.id)
    return clerk, ids


def fire_one(db: Database, case_id: int, clerk: Actor, calendar: WorkCalendar) -> tuple[float, float, float]:
    """One audited transition in its own unit of work; the three parts' durations in seconds."""
    t0 = time.perf_counter()
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        t1 = time.perf_counter()
        fire(
            s,
            case=case,
            definition=BENCH,
            decision=authorize(BENCH, case, clerk, "village_pass"),
            data=PASS_DATA,
            expected_version=case.version,
            now=utcnow(),
            calendar=calendar,
        )
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def engine_rate_serial(db: Database, ids: Sequence[int], clerk: Actor) -> tuple[float, Split, list[float]]:
    calendar = WorkCalendar()
    parts: list[tuple[float, float, float]] = []
    start = time.perf_counter()
    for case_id in ids:
        parts.append(fire_one(db, case_id, clerk, calendar))
    elapsed = time.perf_counter() - start
    split = Split(*(statistics.fmean(p[i] for p in parts) * 1e6 for i in range(3)))
    return len(ids) / elapsed, split, [sum(p) for p in parts]


def engine_rate_threads(db: Database, ids: Sequence[int], clerk: Actor, threads: int) -> tuple[float, list[float]]:
    """Closed loop: `threads` clients, each firing on its own share of the cases."""
    calendar = WorkCalendar()
    shares = [list(ids[i::threads]) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def client(k: int) -> None:
        barrier.wait()
        try:
            for case_id in shares[k]:
                latencies[k].append(sum(fire_one(db, case_id, clerk, calendar)))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    flat = [x for lat in latencies for x in lat]
    return len(flat) / elapsed, flat


def percentile_ms(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index] * 1e3


def profile_fires(db: Database, ids: Sequence[int], clerk: Actor) -> str:
    calendar = WorkCalendar()
    profiler = cProfile.Profile()
    profiler.enable()
    for case_id in ids:
        fire_one(db, case_id, clerk, calendar)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


# --------------------------------------------------------------------------- the run


def measure(args: argparse.Namespace) -> Figures:
    now = utcnow()
    figures = Figures(
        db=args.db,
        n=args.n,
        threads=args.threads,
        when=now.strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        versions={"python": platform.python_version(), "sqlite": sqlite3.sqlite_version},
        durability={},
    )
    profile_n = min(args.n, 1000) if args.profile else 0
    total = 2 * args.n + profile_n

    def engine_part(url: str) -> None:
        db = Database(url)
        try:
            figures.durability = durability_settings(db)
            clerk, ids = seed(db, total, now)
            serial, threaded, rest = ids[: args.n], ids[args.n : 2 * args.n], ids[2 * args.n :]
            figures.S, figures.split, lat = engine_rate_serial(db, serial, clerk)
            figures.S_p50_ms, figures.S_p99_ms = percentile_ms(lat, 50), percentile_ms(lat, 99)
            figures.S8, lat8 = engine_rate_threads(db, threaded, clerk, args.threads)
            figures.S8_p50_ms, figures.S8_p99_ms = percentile_ms(lat8, 50), percentile_ms(lat8, 99)
            if rest:
                figures.profile = profile_fires(db, rest, clerk)
            with db.session(write=False) as s:
                start = time.perf_counter()
                verdict = verify_log(s)
                figures.verify_rows_per_s = verdict.entries / (time.perf_counter() - start)
            if not verdict.ok or verdict.entries != 2 * total:  # one create and one transition per case
                raise SystemExit(f"the audit chain is not what the run wrote: {verdict}")
            figures.notes.append(f"audit chain verified after the run: {verdict.entries} entries")
        finally:
            db.dispose()

    if args.db == "sqlite":
        with sqlite_urls(Path(args.dir)) as (scratch, raw_path, raw_transition_path, engine_url):
            figures.F = fdatasync_rate(scratch)
            figures.L = raw_rate_sqlite(raw_path, args.n)
            figures.Lt = raw_transitions_sqlite(raw_transition_path, args.n)
            engine_part(engine_url)
            figures.notes.append(f"files in {scratch} (removed)")
    else:
        base = args.pg_url.rstrip("/")
        with postgres_urls(base) as (raw_url, raw_transition_url, engine_url):
            import psycopg

            with psycopg.connect(raw_url) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                figures.versions["postgresql"] = str(row[0]) if row else "?"
            figures.L = raw_rate_postgres(raw_url, args.n)
            figures.Lt = raw_transitions_postgres(raw_transition_url, args.n)
            engine_part(engine_url)
    return figures


def report(f: Figures) -> str:
    def rate(x: float | None) -> str:
        return "—" if x is None else f"{x:,.0f}"

    def row(name: str, value: float | None, latency: str = "") -> str:
        to_l = f"{value / f.L:.2f}" if value and f.L else ""
        to_lt = f"{value / f.Lt:.2f}" if value and f.Lt else ""
        return f"{name:<46}{rate(value):>11}{to_l:>8}{to_lt:>8}   {latency}".rstrip()

    def lat(p50: float, p99: float) -> str:
        return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"

    lines = [
        f"aidflow ratio benchmark — {f.db}, n={f.n}, {f.when}",
        f"machine: {f.machine}; " + ", ".join(f"{k} {v}" for k, v in f.versions.items()),
        "durability: " + ", ".join(f"{k}={v}" for k, v in f.durability.items()),
        "",
        f"{'figure':<46}{'per s':>11}{'/ L':>8}{'/ Lt':>8}   latency",
        row("F   fdatasync, 4 KiB, in the DB directory", f.F),
        row("L   raw INSERT + COMMIT, audit-sized row", f.L),
        row("Lt  raw transition SQL + COMMIT", f.Lt),
        row("S   fire(), one db.session() each, 1 thread", f.S, lat(f.S_p50_ms, f.S_p99_ms)),
        row(f"S{f.threads}  fire(), {f.threads} threads", f.S8, lat(f.S8_p50_ms, f.S8_p99_ms)),
        "",
    ]
    if f.split is not None:
        total = f.split.open_and_load + f.split.fire + f.split.commit
        lines.append(f"where one transition's time goes (1 thread, mean {total:.0f} µs):")
        for name, value in (
            ("open session + load case", f.split.open_and_load),
            ("fire() until commit", f.split.fire),
            ("commit + close", f.split.commit),
        ):
            lines.append(f"  {name:<28}{value:>8.0f} µs  {value / total:>5.0%}")
    lines.append(f"verify_log: {f.verify_rows_per_s:,.0f} entries/s")
    lines.extend(f"note: {n}" for n in f.notes)
    if f.profile:
        lines.extend(["", "cProfile of fire_one (top 25 by own time):", f.profile])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> Figures:
    parser = argparse.ArgumentParser(prog="python -m bench.ratio", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=3000, help="transitions per figure")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dir", default=".", help="where the SQLite scratch files go (same disk as production)")
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--profile", action="store_true", help="also cProfile up to 1000 extra transitions")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    figures = measure(args)
    out(report(figures))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(figures), ensure_ascii=False, indent=2))
    return figures


if __name__ == "__main__":
    main()
