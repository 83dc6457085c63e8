"""Ratio benchmark: audited transitions through the engine (S) against the raw commit limit (L).

    python -m bench.ratio [--db sqlite|postgres|both] [--rounds 9] [--n 500] [--threads 8]
                          [--markdown BENCHMARKS.md] [--json FILE] [--profile]

Figures, each measured in short interleaved rounds on the same disk or cluster:
  F   fdatasync/s of a 4 KiB block in the database's directory (SQLite only);
  L   single-row INSERT + COMMIT of an audit-sized row, raw driver, no ORM (a fresh migrated
      database with the engine's schema and durability settings);
  Lt  the exact SQL of one transition, raw driver, one per commit: version-checked UPDATE of the
      case, head read (FOR UPDATE on PostgreSQL), timer INSERT, audit INSERT, head UPDATE;
  S   engine.runtime.fire, one transition per db.session(), on a fresh migrated database with the
      cases created beforehand; load, guards, state machine, version-checked update, timer, audit
      append and hash, commit; with p50/p99 latency per transition;
  S8  the same with 8 threads, each on its own cases, with p50/p99 latency per transition.
Every round runs each figure once for --n operations, forwards (F L Lt S S8) in odd rounds and
backwards in even ones, so a disk or a host that drifts during the run moves baseline and subject
alike. Ratios are taken per round (S/L of round 3 is S of round 3 over L of round 3), then the
median over the rounds; every figure is given as its median with the lowest and highest round.
Not a test: nothing fails.
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
import sys
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
DB_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
VERSION_NAMES = {"python": "Python", "sqlite": "SQLite", "postgresql": "PostgreSQL"}


# --------------------------------------------------------------------------- figures


@dataclass
class Round:
    """One pass over every figure, in `order`; rates per second, latencies in ms, split in µs."""

    index: int
    order: list[str]
    rates: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    split_us: dict[str, float] = field(default_factory=dict)


@dataclass
class Spread:
    """A figure over the rounds: median, lowest and highest round, quartiles."""

    median: float
    low: float
    high: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        ordered = sorted(values)
        if len(ordered) == 1:
            q1 = q3 = ordered[0]
        else:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(statistics.median(ordered), ordered[0], ordered[-1], q1, q3)


@dataclass
class Run:
    """Every round of one database, and what was measured once around them."""

    db: str
    rounds_n: int
    n: int
    threads: int
    versions: dict[str, str]
    durability: dict[str, str] = field(default_factory=dict)
    rounds: list[Round] = field(default_factory=list)
    verify_rows_per_s: float = 0.0
    scale_rows: list[str] = field(default_factory=list)  # the scale figures' rows (bench.scale_rows)
    profile: str = ""
    notes: list[str] = field(default_factory=list)

    def rate(self, figure: str) -> Spread | None:
        values = [r.rates[figure] for r in self.rounds if figure in r.rates]
        return Spread.of(values) if values else None

    def latency(self, key: str) -> Spread:
        return Spread.of([r.latency_ms[key] for r in self.rounds])

    def split(self, part: str) -> Spread:
        return Spread.of([r.split_us[part] for r in self.rounds])

    def ratio(self, subject: str, baseline: str) -> Spread | None:
        values = [
            r.rates[subject] / r.rates[baseline] for r in self.rounds if subject in r.rates and r.rates.get(baseline)
        ]
        return Spread.of(values) if values else None


@dataclass(frozen=True)
class Target:
    """A goal from the performance issue: `figure` compared with `bound` (">=" or "<")."""

    figure: str
    op: str
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value < self.bound

    def text(self) -> str:
        return f"{'≥' if self.op == '>=' else '<'} {self.bound:g}" + (" ms" if self.figure.endswith("p99") else "")


TARGETS: dict[str, tuple[Target, ...]] = {
    "sqlite": (Target("S/L", ">=", 0.35), Target("S8/L", ">=", 0.6), Target("S8 p99", "<", 20.0)),
    "postgres": (Target("S/L", ">=", 0.35), Target("S8/L", ">=", 1.0), Target("S8 p99", "<", 20.0)),
}


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


SPLIT_PARTS = ("open_and_load", "fire", "commit")


def engine_rate_serial(db: Database, ids: Sequence[int], clerk: Actor) -> tuple[float, dict[str, float], list[float]]:
    """S: rate, mean µs of each part of the unit of work, and every transition's latency."""
    calendar = WorkCalendar()
    parts: list[tuple[float, float, float]] = []
    start = time.perf_counter()
    for case_id in ids:
        parts.append(fire_one(db, case_id, clerk, calendar))
    elapsed = time.perf_counter() - start
    split = {name: statistics.fmean(p[i] for p in parts) * 1e6 for i, name in enumerate(SPLIT_PARTS)}
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


# --------------------------------------------------------------------------- the rounds


class Cursor:
    """Hands out consecutive slices of items prepared before the rounds, so no round reuses one."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items, self.at = items, 0

    def take(self, k: int) -> Sequence[Any]:
        part = self.items[self.at : self.at + k]
        if len(part) != k:
            raise RuntimeError(f"prepared {len(self.items)} items, round asked past them")
        self.at += k
        return part


def measure(db_kind: str, args: argparse.Namespace, log: Callable[[str], None]) -> Run:
    """Every round of one database: fresh migrated databases, cases seeded, then F L Lt S S8 interleaved."""
    run = Run(
        db=db_kind,
        rounds_n=args.rounds,
        n=args.n,
        threads=args.threads,
        versions={"python": platform.python_version(), "sqlite": sqlite3.sqlite_version},
    )
    warmup = min(args.n, args.warmup)
    per_figure = warmup + args.rounds * args.n
    profile_n = min(args.n, 1000) if args.profile else 0
    now = utcnow()

    def rounds(fsync_dir: Path | None, l_driver: RawDriver, lt_driver: RawDriver, engine_url: str) -> None:
        log(f"{DB_NAMES[db_kind]}: seeding {2 * per_figure + profile_n} engine cases and {per_figure} raw ones")
        seed_raw_cases(lt_driver, per_figure)
        l_rows = Cursor(audit_sized_rows(per_figure))
        lt_ids = Cursor(range(1, per_figure + 1))
        db = Database(engine_url, group_commit=args.group_commit)
        try:
            run.durability = durability_settings(db)
            clerk, ids = seed(db, 2 * per_figure + profile_n, now)
            s_ids = Cursor(ids)
            figures = ["F", "L", "Lt", "S", "S8"] if fsync_dir is not None else ["L", "Lt", "S", "S8"]

            def one_round(index: int, size: int) -> Round:
                order = figures if index % 2 == 1 else figures[::-1]
                result = Round(index, list(order))
                for figure in order:
                    if figure == "F":
                        assert fsync_dir is not None
                        result.rates["F"] = fdatasync_rate(fsync_dir, args.fsync_seconds)
                    elif figure == "L":
                        result.rates["L"] = raw_inserts(l_driver, l_rows.take(size))
                    elif figure == "Lt":
                        result.rates["Lt"] = raw_transitions(lt_driver, lt_ids.take(size))
                    elif figure == "S":
                        result.rates["S"], result.split_us, lat = engine_rate_serial(db, s_ids.take(size), clerk)
                        result.latency_ms["S p50"] = percentile_ms(lat, 50)
                        result.latency_ms["S p99"] = percentile_ms(lat, 99)
                    else:
                        result.rates["S8"], lat8 = engine_rate_threads(db, s_ids.take(size), clerk, args.threads)
                        result.latency_ms["S8 p50"] = percentile_ms(lat8, 50)
                        result.latency_ms["S8 p99"] = percentile_ms(lat8, 99)
                return result

            if warmup:
                one_round(0, warmup)  # the first pass pays for caches, prepared statements and the pool
            for index in range(1, args.rounds + 1):
                done = one_round(index, args.n)
                run.rounds.append(done)
                log(f"  round {index}/{args.rounds} ({' '.join(done.order)}): " + round_line(done))
            if profile_n:
                run.profile = profile_fires(db, s_ids.take(profile_n), clerk)
            with db.session(write=False) as s:
                start = time.perf_counter()
                verdict = verify_log(s)
                run.verify_rows_per_s = verdict.entries / (time.perf_counter() - start)
            expected = 2 * len(ids)  # one create and one transition per case
            if not verdict.ok or verdict.entries != expected or s_ids.at != len(ids):
                raise SystemExit(f"the audit chain is not what the run wrote: {verdict}, expected {expected}")
            run.notes.append(f"audit chain verified after the run: {verdict.entries} entries")
        finally:
            db.dispose()

    if db_kind == "sqlite":
        with sqlite_urls(Path(args.dir)) as (scratch, raw_path, raw_transition_path, engine_url):
            l_side = sqlite_driver(raw_path, "BEGIN")  # one row: the plainest transaction
            lt_side = sqlite_driver(raw_transition_path, "BEGIN IMMEDIATE")  # reads the head, then writes
            with l_side as l_driver, lt_side as lt_driver:
                rounds(scratch, l_driver, lt_driver, engine_url)
            run.notes.append(f"SQLite files in {scratch} (removed)")
    else:
        base = args.pg_url.rstrip("/")
        with postgres_urls(base) as (raw_url, raw_transition_url, engine_url):
            l_side, lt_side = postgres_driver(raw_url), postgres_driver(raw_transition_url)
            with l_side as l_driver, lt_side as lt_driver:
                row = l_driver.execute("SHOW server_version", ()).fetchone()
                l_driver.commit()
                run.versions["postgresql"] = str(row[0]).split()[0] if row else "?"
                rounds(None, l_driver, lt_driver, engine_url)
    return run


def round_line(r: Round) -> str:
    rates = ", ".join(f"{k} {v:,.0f}/s" for k, v in r.rates.items())
    ratios = f"S/L {r.rates['S'] / r.rates['L']:.2f}, S8/L {r.rates['S8'] / r.rates['L']:.2f}"
    return f"{rates}; {ratios}; S8 p99 {r.latency_ms['S8 p99']:.1f} ms"


# --------------------------------------------------------------------------- the report


def machine() -> dict[str, str]:
    """What the figures were measured on: nproc, CPU model, kernel."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0
    return {"nproc": str(nproc), "cpu": model, "kernel": f"{platform.system()} {platform.release()}"}


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}"
    if unit == "ms":
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return f"{value:,.0f}"  # µs


def spread_text(s: Spread | None, unit: str) -> str:
    if s is None:
        return "—"
    return f"{fmt(s.median, unit)} ({fmt(s.low, unit)}–{fmt(s.high, unit)})"


def verdict(target: Target, s: Spread) -> str:
    """Judged on the median; says so when some rounds fall on the other side of the bound."""
    met = target.met(s.median)
    crossed = target.met(s.low) != target.met(s.high)
    word = "**met**" if met else "**missed**"
    if crossed:
        return f"{word} on the median; some rounds {'miss' if met else 'meet'} it"
    return f"{word} in every round"


FIGURE_NAMES = {
    "F": "F fdatasync, 4 KiB, in the DB directory",
    "L": "L raw INSERT + COMMIT, audit-sized row",
    "Lt": "Lt raw transition SQL + COMMIT",
    "S": "S engine fire(), 1 writer",
    "S8": "S8 engine fire(), {threads} writers",
}


def table(runs: Sequence[Run]) -> str:
    """One Markdown table: every figure, its baseline, the ratio to it, and the target if any."""
    head = [
        "| database | figure | median (lowest–highest round) | baseline | ratio, median of rounds (lowest–highest) "
        "| target | against the target |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + [line for run in runs for line in table_rows(run)])


def table_rows(run: Run) -> list[str]:
    name = DB_NAMES[run.db]
    targets = {t.figure: t for t in TARGETS[run.db]}
    rows: list[str] = []

    def row(figure: str, value: str, baseline: str = "—", ratio: Spread | None = None, key: str = "") -> None:
        target = targets.get(key)
        judged = ratio if ratio is not None else (run.latency(key) if key.endswith("p99") else None)
        tt = target.text() if target else "—"
        vv = verdict(target, judged) if target and judged else ""
        rr = spread_text(ratio, "ratio") if ratio is not None else "—"
        rows.append(f"| {name} | {figure} | {value} | {baseline} | {rr} | {tt} | {vv} |")

    for figure in ("F", "L", "Lt", "S", "S8"):
        rate = run.rate(figure)
        if rate is None:
            continue
        label = FIGURE_NAMES[figure].format(threads=run.threads) + ", per s"
        value = spread_text(rate, "/s")
        if figure in ("F", "L"):
            row(label, value)
        elif figure == "Lt":
            row(label, value, "L", run.ratio("Lt", "L"))
        else:
            row(label, value, "L", run.ratio(figure, "L"), f"{figure}/L")
            row(label, value, "Lt", run.ratio(figure, "Lt"))
    for key in ("S p50", "S p99", "S8 p50", "S8 p99"):
        writers = "1 writer" if key.startswith("S ") else f"{run.threads} writers"
        row(f"{key.split()[1]} latency per transition, {writers}, ms", spread_text(run.latency(key), "ms"), key=key)
    labels = ("open db.session() + load the case", "fire() up to the commit", "commit + close")
    for part, label in zip(SPLIT_PARTS, labels, strict=True):
        row(f"S, mean time in: {label}, µs", spread_text(run.split(part), "µs"))
    row("verify_log, entries per s (once, after the rounds)", f"{run.verify_rows_per_s:,.0f}")
    return rows + run.scale_rows


def setting_lines(runs: Sequence[Run], when: str, load: tuple[float, float]) -> list[str]:
    m = machine()
    versions: dict[str, str] = {}
    for run in runs:
        versions.update(run.versions)
    run0 = runs[0]
    lines = [
        f"- date: {when}",
        f"- machine: nproc {m['nproc']}, {m['cpu']}, {m['kernel']}",
        "- versions: " + ", ".join(f"{VERSION_NAMES.get(k, k)} {v}" for k, v in versions.items()),
        "- durability: "
        + "; ".join(f"{DB_NAMES[r.db]} " + ", ".join(f"{k}={v}" for k, v in r.durability.items()) for r in runs),
        f"- sizes: {run0.rounds_n} rounds of {run0.n} operations per figure, {run0.threads} writers for S8",
        f"- host load average (1 min) at the start and at the end: {load[0]:.1f}, {load[1]:.1f} (other work on the"
        " host shows here; above nproc, read the ratios with care)",
    ]
    return lines


def markdown(runs: Sequence[Run], when: str, load: tuple[float, float], *, small: bool) -> str:
    """The BENCHMARKS.md page."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.ratio`); what each figure runs and how to read it:",
        "[bench/README.md](bench/README.md). Each database gets fresh migrated databases; every round runs",
        "each figure once, forwards (F L Lt S S8) in odd rounds and backwards in even ones, after one",
        "discarded warm-up round. A figure is the median of its rounds with the lowest and highest round in",
        "brackets; a ratio is taken within each round (S of round k over L of round k) and then its median.",
        "Targets are judged on the median. Ratios are what compares across runs and machines: absolute",
        "rates follow the disk and whatever else the host is running.",
        "",
    ]
    if small:
        lines += ["**Small sizes (`make bench-quick`): the spread is wide and p99 rests on a few samples.**", ""]
    lines += [*setting_lines(runs, when, load), "", table(runs), ""]
    return "\n".join(lines)


def text_report(run: Run) -> str:
    """What one database's run prints besides the table: the profile and notes."""
    lines = [f"{DB_NAMES[run.db]}:"]
    lines.extend(f"note: {n}" for n in run.notes)
    if run.profile:
        lines.extend(["", "cProfile of fire_one (top 25 by own time):", run.profile])
    return "\n".join(lines)


def scale_rows(db_kind: str, args: argparse.Namespace, log: Callable[[str], None]) -> list[str]:
    """The figures at scale (bench.verify_scale, bench.queue_scale) as rows of the table; measured once
    each (a load of N rows per figure is too long to repeat in rounds), so no spread."""
    from bench import queue_scale, verify_scale

    name = DB_NAMES[db_kind]
    rows: list[str] = []
    base = args.pg_url.rstrip("/")
    if args.verify_n:
        log(f"{name}: audit verify over {args.verify_n:,} entries")
        workers = os.cpu_count() or 2
        v = verify_scale.measure(db_kind, args.verify_n, workers=workers, directory=Path(args.dir), pg_url=base)
        hashlib_rate = v.n / v.hashlib_s
        target = 10_000_000 / 30  # the issue: 10M entries in under 30 s
        for label, seconds in (("1 process", v.one_s), (f"{workers} processes", v.split_s)):
            rate = v.n / seconds
            met = "**met**" if rate >= target else "**missed**"
            rows.append(
                f"| {name} | audit verify, {label}, {v.n:,} entries, per s | {rate:,.0f} | hashlib "
                f"| {rate / hashlib_rate:.2f} | ≥ {target:,.0f} (10 M in < 30 s) | {met} (one run) |"
            )
        rows.append(
            f"| {name} | hashlib SHA-256 chained over the same bytes, per s | {hashlib_rate:,.0f} | — | — | — |  |"
        )
        rows.append(
            f"| {name} | audit verify from a checkpoint {v.since_entries:,} entries back, ms | "
            f"{v.since_s * 1000:,.0f} | — | — | O(entries after it) |  |"
        )
    if args.queue_n:
        log(f"{name}: one township's queue at {args.queue_n:,} cases")
        q = queue_scale.measure(
            db_kind, args.queue_n, samples=args.queue_samples, directory=Path(args.dir), pg_url=base
        )
        floor = q.ms["floor"]
        for figure, label in (
            ("page query", "queue page query (both phases, Case rows built)"),
            ("counts", "queue counts (kept rows)"),
            ("before: IN-list page query", "before: IN-list page query"),
            ("before: grouped count", "before: grouped count of the township"),
        ):
            p50, p99 = q.ms[figure]
            judged = figure in ("page query", "counts")
            verdict_text = ("**met**" if p99 < 5 else "**missed**") + " (one run)" if judged else ""
            rows.append(
                f"| {name} | {label}, {q.n:,} cases, p50 / p99 ms | {p50:.2f} / {p99:.2f} | floor p99 {floor[1]:.2f} "
                f"| {p99 / floor[1]:.2f} | {'p99 < 5 ms' if judged else '—'} | {verdict_text} |"
            )
        rows.append(
            f"| {name} | floor: one state's 51 cases in index order, {q.n:,} cases, p50 / p99 ms "
            f"| {floor[0]:.2f} / {floor[1]:.2f} | — | — | — |  |"
        )
    return rows


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # the rounds take minutes: show each as it ends, even into a pipe


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = say) -> list[Run]:
    parser = argparse.ArgumentParser(prog="python -m bench.ratio", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--n", type=int, default=500, help="operations per figure per round")
    parser.add_argument("--warmup", type=int, default=100, help="operations per figure in the discarded first round")
    parser.add_argument("--fsync-seconds", type=float, default=0.3, help="length of F in each round")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dir", default=".", help="where the SQLite scratch files go (same disk as production)")
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--profile", action="store_true", help="also cProfile up to 1000 extra transitions")
    parser.add_argument("--markdown", type=Path, help="write the figures as a Markdown page here (BENCHMARKS.md)")
    parser.add_argument("--small", action="store_true", help="mark the page as measured at small sizes")
    parser.add_argument("--json", type=Path, help="write every round's figures as JSON here")
    parser.add_argument("--group-commit", action="store_true", help="S and S8 with group commit (SQLite)")
    parser.add_argument("--verify-n", type=int, default=0, help="audit verify over a loaded chain this long (0: skip)")
    parser.add_argument("--queue-n", type=int, default=0, help="one township's queue with this many cases (0: skip)")
    parser.add_argument("--queue-samples", type=int, default=300, help="samples of each queue figure")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.n < args.threads:
        parser.error("--rounds must be at least 1 and --n at least --threads")
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    when = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    load_before = os.getloadavg()[0]
    runs = [measure(kind, args, out) for kind in kinds]
    for run in runs:
        run.scale_rows = scale_rows(run.db, args, out)
    load = (load_before, os.getloadavg()[0])
    page = markdown(runs, when, load, small=args.small)
    out("")
    out(page)
    for run in runs:
        out(text_report(run))
    if args.markdown is not None:
        args.markdown.write_text(page)
        out(f"written to {args.markdown}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"when": when, "machine": machine(), "load": load, "runs": [asdict(r) for r in runs]}
        args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
    return runs


if __name__ == "__main__":
    main()
