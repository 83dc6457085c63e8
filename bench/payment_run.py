"""The monthly payment run at scale: N active households bulk-loaded into a fresh migrated database
(approved standard-aid cases, paying, each with a monthly amount in fen and an encrypted bank account,
their data shaped as the application and its approval leave it), then `aidflow payments run` for this
month (the command itself, in parts as it goes), then the same month again, which adds no line.

    python -m bench.payment_run --db sqlite|postgres|both --n 100000 [--dir .] [--pg-url URL] [--profile]

Beside the run, the floor: the driver's own INSERT of the same N payment-line rows in one transaction
(executemany, no audit entry, nothing read), into the same table.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.queue_scale import COLUMNS, COUNTY, TOWNSHIP, VILLAGES, _regions, progress
from bench.raw import fresh
from engine.calendar import add_months, local_date
from workflows.base import local_midnight

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
SECRET = "bench-payment-run-secret-0123456789abcdef"
CHUNK = 5_000
RUN_TARGET_S, RERUN_TARGET_S = 30.0, 5.0
LINE_COLUMNS = (
    "case_id, month, amount_fen, status, region_code, township_code, county_code, created_at, reference, "
    "held_reason, attempt"
)


def _env() -> Any:
    from workflows.env import Env

    return Env.load(None, SECRET)


def this_month(now: datetime) -> str:
    local = local_date(now)
    return f"{local.year:04d}-{local.month:02d}"


def _id_number(i: int) -> str:
    """An 18-character identity number (the check digit is not computed: nothing here validates it)."""
    return f"341122{1950 + i % 60:04d}{i % 12 + 1:02d}{i % 28 + 1:02d}{i % 1000:03d}X"


def case_data(env: Any, spec: dict[str, Any], i: int, amount: int, activated: datetime) -> dict[str, Any]:
    """One approved, active household as the application, the reviews and the approval leave it."""
    c = env.cipher
    at = activated.isoformat()
    filed = (activated - timedelta(days=23)).isoformat()
    person, child = _id_number(i), _id_number(i + 500_000)
    account = f"622202{i:013d}"
    members = [
        {"name": f"户主{i}", "id_enc": c.encrypt(person), "id_hash": c.lookup_hash(person), "relation": "本人"},
        {"name": f"子女{i}", "id_enc": c.encrypt(child), "id_hash": c.lookup_hash(child), "relation": "子女"},
    ]
    for m in members:
        m.update(monthly_income_fen=20_000, severe_disability=False, serious_illness=False, can_work=False)
    return {
        "file_version": 2,
        "aid_type": "dibao",
        "spec": spec,
        "applicant": {
            **{k: members[0][k] for k in ("name", "id_enc", "id_hash")},
            "phone_enc": c.encrypt(f"1380000{i % 10000:04d}"),
            "email_enc": None,
        },
        "members": members,
        "assets_fen": 500_000,
        "reason": "家庭收入低，生活困难",
        "relatives_in_office": [],
        "filed_relative": False,
        "amount_requested_fen": None,
        "cause": None,
        "flags": [],
        "bank_account_enc": c.encrypt(account),
        "bank_account_hash": c.lookup_hash(account),
        "recused": [],
        "submitted": {"by": "clerk", "role": "village_officer", "at": filed},
        "accepted_at": filed,
        "village_pass": {
            "by": "clerk",
            "role": "village_officer",
            "at": filed,
            "investigators": ["clerk", "clerk2"],
            "proposed_monthly_fen": amount,
        },
        "proposed_monthly_fen": amount,
        "township_pass": {
            "by": "boss",
            "role": "township_officer",
            "at": filed,
            "opinion": "经核查，收入和财产符合条件",
        },
        "approval": {
            "by": "boss2",
            "role": "township_officer",
            "at": filed,
            "monthly_amount_fen": amount,
            "mode": "household",
            "basis": "人均收入低于当地低保标准",
        },
        "monthly_amount_fen": amount,
        "mode": "household",
        "review_class": "stable",
        "activated_at": at,
    }


def cases(n: int, now: datetime, seed: int = 7) -> Iterator[list[tuple[Any, ...]]]:
    """N active households in chunks, as rows of bench.queue_scale.COLUMNS (data as JSON text)."""
    from workflows import aidtypes

    env = _env()
    rng = random.Random(seed)
    version = next(d.version for d in env.definitions() if d.key == "standard")
    spec = aidtypes.spec_for(aidtypes.get("dibao"), env.rules(TOWNSHIP, now)).to_json()
    # activated at least a few months before this month: every case is due a line now (P10)
    first_of_month = local_midnight(local_date(now).replace(day=1))
    chunk: list[tuple[Any, ...]] = []
    for i in range(1, n + 1):
        activated = add_months(first_of_month, -rng.randrange(3, 36)) + timedelta(days=rng.randrange(27))
        amount = rng.randrange(20_000, 90_000)  # fen
        data = json.dumps(case_data(env, spec, i, amount, activated), ensure_ascii=False, separators=(",", ":"))
        row = (i, "standard", version, f"DB-{i:07d}", rng.choice(VILLAGES), TOWNSHIP, COUNTY, "active", 10, 10)
        chunk.append((*row, activated, None, data, activated - timedelta(days=23), activated))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: str, n: int, now: datetime, tick: Callable[[int], None]) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # loading only
    conn.executemany("INSERT INTO regions (code, name, level, parent_code) VALUES (?,?,?,?)", _regions())
    counts: dict[str, int] = {}
    sql = f"INSERT INTO cases ({COLUMNS}) VALUES ({','.join('?' * 15)})"
    for chunk in cases(n, now):
        conn.executemany(sql, [(*r[:10], _stamp(r[10]), None, r[12], _stamp(r[13]), _stamp(r[14])) for r in chunk])
        for r in chunk:
            counts[r[4]] = counts.get(r[4], 0) + 1
        tick(len(chunk))
    conn.executemany(
        "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) VALUES (?,?,?,?,?,?)",
        [(v, "standard", "active", TOWNSHIP, COUNTY, k) for v, k in counts.items()],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, n: int, now: datetime, tick: Callable[[int], None]) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO regions (code, name, level, parent_code) VALUES (%s,%s,%s,%s)", _regions())
        counts: dict[str, int] = {}
        for chunk in cases(n, now):
            with cur.copy(f"COPY cases ({COLUMNS}) FROM STDIN") as copy:
                for row in chunk:
                    copy.write_row(row)
            for r in chunk:
                counts[r[4]] = counts.get(r[4], 0) + 1
            tick(len(chunk))
        cur.executemany(
            "INSERT INTO case_counts (region_code, workflow, state, township_code, county_code, n) "
            "VALUES (%s,%s,%s,%s,%s,%s)",
            [(v, "standard", "active", TOWNSHIP, COUNTY, k) for v, k in counts.items()],
        )
        cur.execute(f"SELECT setval(pg_get_serial_sequence('cases', 'id'), {max(n, 1)})")
        conn.commit()
        conn.execute("ANALYZE")
        conn.commit()


def load(db_kind: str, url: str, target: str, n: int, now: datetime) -> float:
    """Bulk-load N households with a progress bar; the seconds it took."""
    with progress() as bar:
        task = bar.add_task(f"{db_kind}: loading {n:,} active households", total=n, rate="")
        started = time.perf_counter()

        def tick(k: int) -> None:
            done = bar.tasks[0].completed + k
            bar.update(task, advance=k, rate=f"{done / (time.perf_counter() - started):,.0f}/s")

        (load_sqlite if db_kind == "sqlite" else load_postgres)(target, n, now, tick)
        return time.perf_counter() - started


def run_cli(url: str, month: str) -> str:
    """`aidflow payments run --month M --quiet`, in this process (its settings from the environment)."""
    from api.cli.payments import payments_run

    saved = {k: os.environ.get(k) for k in ("AIDFLOW_DATABASE_URL", "AIDFLOW_SECRET_KEY")}
    os.environ.update(AIDFLOW_DATABASE_URL=url, AIDFLOW_SECRET_KEY=SECRET)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            payments_run(month=month, quiet=True)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out.getvalue().strip()


def counted(url: str, month: str) -> tuple[int, int, int]:
    """(lines of the month, cases with one, payment_line audit entries)."""
    from sqlalchemy import text

    from engine.database import Database

    db = Database(url)
    try:
        with db.engine.connect() as conn:
            lines, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT case_id) FROM payment_lines WHERE month = :m"), {"m": month}
            ).one()
            records = conn.execute(
                text("SELECT count(*) FROM audit_entries WHERE action = 'payment_line'")
            ).scalar_one()
            return int(lines), int(distinct), int(records)
    finally:
        db.dispose()


def raw_insert(db_kind: str, target: str, n: int, now: datetime) -> float:
    """The floor: N payment-line rows of another month through the driver, executemany, one transaction."""
    month = "1999-01"
    rows = [
        (i, month, 50_000, "pending", VILLAGES[i % 20], TOWNSHIP, COUNTY, now, f"PAY199901-{i:08d}", None, 1)
        for i in range(1, n + 1)
    ]
    if db_kind == "sqlite":
        import sqlite3

        lite = sqlite3.connect(target)
        sql = f"INSERT INTO payment_lines ({LINE_COLUMNS}) VALUES ({','.join('?' * 11)})"
        stamped = [(*r[:7], _stamp(r[7]), *r[8:]) for r in rows]
        started = time.perf_counter()
        lite.executemany(sql, stamped)
        lite.commit()
        elapsed = time.perf_counter() - started
        lite.close()
        return elapsed
    import psycopg

    with psycopg.connect(target) as conn, conn.cursor() as cur:
        sql = f"INSERT INTO payment_lines ({LINE_COLUMNS}) VALUES ({','.join(['%s'] * 11)})"
        started = time.perf_counter()
        cur.executemany(sql, rows)
        conn.commit()
        return time.perf_counter() - started


@dataclass
class PaymentFigures:
    db: str
    n: int
    month: str = ""
    load_s: float = 0.0
    run_s: float = 0.0
    rerun_s: float = 0.0
    raw_s: float = 0.0
    run_said: str = ""
    rerun_said: str = ""
    after_run: tuple[int, int, int] = (0, 0, 0)
    after_rerun: tuple[int, int, int] = (0, 0, 0)
    profile: str = ""


def _profiled(call: Callable[[], str], top: int) -> tuple[str, str]:
    profiler = cProfile.Profile()
    said = profiler.runcall(call)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    return said, text.getvalue()


def measure(
    db_kind: str, n: int, *, pg_url: str = PG_DEFAULT, directory: Path = Path("."), profile: int = 0
) -> PaymentFigures:
    """Load N households, time the month's run and its rerun, then the raw INSERT floor.
    With `profile`, the run is profiled instead (its time then includes the profiler's cost)."""
    now = datetime.now(UTC)
    figures = PaymentFigures(db_kind, n, this_month(now))
    with fresh(db_kind, directory, pg_url.rstrip("/"), "pay") as (url, target):
        figures.load_s = load(db_kind, url, target, n, now)
        started = time.perf_counter()
        if profile:
            figures.run_said, figures.profile = _profiled(lambda: run_cli(url, figures.month), profile)
        else:
            figures.run_said = run_cli(url, figures.month)
        figures.run_s = time.perf_counter() - started
        figures.after_run = counted(url, figures.month)
        started = time.perf_counter()
        figures.rerun_said = run_cli(url, figures.month)
        figures.rerun_s = time.perf_counter() - started
        figures.after_rerun = counted(url, figures.month)
        figures.raw_s = raw_insert(db_kind, target, n, now)
    return figures


def rows(result: PaymentFigures) -> list[str]:
    """The figures as rows of bench.ratio's table."""
    from bench.figures import DB_NAMES

    name, n, raw = DB_NAMES[result.db], result.n, result.raw_s
    floor = f"raw INSERT of {n:,} lines, one transaction: {raw:.2f} s"
    out = []
    for label, seconds, target in (
        (f"payment run, one month, {n:,} households (CLI, in parts), s", result.run_s, RUN_TARGET_S),
        (f"payment run again, same month (adds no line), {n:,} households, s", result.rerun_s, RERUN_TARGET_S),
    ):
        met = "**met**" if seconds < target else "**missed**"
        out.append(
            f"| {name} | {label} | {seconds:.2f} | {floor} | {seconds / raw:.1f} | < {target:.0f} s | {met} (one run) |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.payment_run", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("."))
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument("--profile", type=int, default=0, metavar="LINES", help="profile the run; print its top")
    args = parser.parse_args()
    out = sys.stdout.write
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        f = measure(kind, args.n, pg_url=args.pg_url, directory=args.dir, profile=args.profile)
        out(f"{kind}: {f.n:,} households loaded in {f.load_s:.0f} s; month {f.month}\n")
        out(f"  run:   {f.run_s:.2f} s  ({f.run_said}); lines, cases, records: {f.after_run}\n")
        out(f"  rerun: {f.rerun_s:.2f} s  ({f.rerun_said}); lines, cases, records: {f.after_rerun}\n")
        out(f"  raw INSERT of {f.n:,} lines in one transaction: {f.raw_s:.2f} s\n")
        out("\n".join(rows(f)) + "\n")
        if f.profile:
            out(f.profile + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
