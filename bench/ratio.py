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
import io
import json
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.figures import DB_NAMES, PG_DEFAULT, SPLIT_PARTS, Round, Run
from bench.raw import (
    RawDriver,
    audit_sized_rows,
    fdatasync_rate,
    postgres_driver,
    postgres_urls,
    raw_inserts,
    raw_transitions,
    seed_raw_cases,
    sqlite_driver,
    sqlite_urls,
)
from bench.report import machine, markdown, scale_rows, text_report
from bench.workflow import BENCH, COUNTY, PASS_DATA, TOWNSHIP, VILLAGE
from engine.access import Actor, Grant, Role, region_level
from engine.auditlog import verify_log
from engine.authorize import authorize
from engine.calendar import WorkCalendar
from engine.caserow import get_case
from engine.database import Database, durability_settings
from engine.runtime import create_case, fire
from engine.tables import Region, RoleGrant, User, utcnow

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
        case = get_case(s, case_id)
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
        many=args.many,
        group_commit=args.group_commit,
        versions={"python": platform.python_version(), "sqlite": sqlite3.sqlite_version},
    )
    warmup = min(args.n, args.warmup)
    per_figure = warmup + args.rounds * args.n
    profile_n = min(args.n, 1000) if args.profile else 0
    now = utcnow()

    def rounds(fsync_dir: Path | None, l_driver: RawDriver, lt_driver: RawDriver, engine_url: str) -> None:
        engine_figures = 4 if args.many else 3
        log(
            f"{DB_NAMES[db_kind]}: seeding {engine_figures * per_figure + profile_n} engine cases"
            f" and {per_figure} raw ones"
        )
        seed_raw_cases(lt_driver, per_figure)
        l_rows = Cursor(audit_sized_rows(per_figure))
        lt_ids = Cursor(range(1, per_figure + 1))
        db = Database(engine_url, group_commit=args.group_commit)
        alone = Database(engine_url, group_commit=False)  # S8a: the same writers, each act its own commit
        try:
            run.durability = durability_settings(db)
            clerk, ids = seed(db, engine_figures * per_figure + profile_n, now)
            s_ids = Cursor(ids)
            figures = ["F", "L", "Lt", "S", "S8", "S8a"] + (["S50"] if args.many else [])
            if fsync_dir is None:
                figures.remove("F")

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
                        writers = args.many if figure == "S50" else args.threads
                        on = alone if figure == "S8a" else db
                        result.rates[figure], lat = engine_rate_threads(on, s_ids.take(size), clerk, writers)
                        result.latency_ms[f"{figure} p50"] = percentile_ms(lat, 50)
                        result.latency_ms[f"{figure} p99"] = percentile_ms(lat, 99)
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
            alone.dispose()
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
    ratios = ", ".join(f"{k}/L {r.rates[k] / r.rates['L']:.2f}" for k in ("S", "S8", "S50", "S8a") if k in r.rates)
    return f"{rates}; {ratios}; S8 p99 {r.latency_ms['S8 p99']:.1f} ms"


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
    parser.add_argument("--many", type=int, default=50, help="writers of S50 (0: skip it)")
    parser.add_argument("--dir", default=".", help="where the SQLite scratch files go (same disk as production)")
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--profile", action="store_true", help="also cProfile up to 1000 extra transitions")
    parser.add_argument("--markdown", type=Path, help="write the figures as a Markdown page here (BENCHMARKS.md)")
    parser.add_argument("--small", action="store_true", help="mark the page as measured at small sizes")
    parser.add_argument("--json", type=Path, help="write every round's figures as JSON here")
    parser.add_argument(
        "--group-commit",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="S, S8 and S50 through group commit (the default, as served); S8a always commits every act alone",
    )
    parser.add_argument("--verify-n", type=int, default=0, help="audit verify over a loaded chain this long (0: skip)")
    parser.add_argument("--queue-n", type=int, default=0, help="one township's queue with this many cases (0: skip)")
    parser.add_argument("--queue-samples", type=int, default=300, help="samples of each queue figure")
    parser.add_argument("--payment-n", type=int, default=0, help="the monthly payment run at N households (0: skip)")
    parser.add_argument("--http-seconds", type=float, default=0, help="HTTP load: length of each run (0: skip)")
    parser.add_argument("--http-rounds", type=int, default=3, help="HTTP load: interleaved rounds")
    parser.add_argument("--http-cases", type=int, default=1000, help="HTTP load: applications for the action")
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
