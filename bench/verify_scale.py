"""`aidflow audit verify` at scale: a valid chain of N entries bulk-loaded into a fresh migrated
database, then verified in one process and split over processes, beside hashlib SHA-256 chained over
the very bytes the verifier hashes (the floor: no fetching, no encoding). Beside the rates it prints
the CPU time spent per entry, which a shared host disturbs far less than the wall clock: the
verifying process's in one process (SQLite's work included, as it runs in the process), the
PostgreSQL server process's for that connection where the server runs on this host, and all the
split verify's processes' together.

    python -m bench.verify_scale --db sqlite|postgres --n 1000000 [--workers 2] [--dir .] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import text

from bench.raw import fresh, settle
from engine.audit import _DOMAIN, GENESIS, Link, body
from engine.auditlog import Checkpoint, verify_log
from engine.database import Database

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432"
CHUNK = 20_000
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
ACTIONS = (("submit", "draft", "intake"), ("accept", "intake", "review"), ("approve", "review", "publicity"))


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


def entries(n: int) -> Iterator[list[tuple[Any, ...]]]:
    """The chain in chunks: (seq, at, actor, role, region, case, action, from, to, data, due, prev, hash,
    body, encoding), `body` the text the engine keeps and `encoding` its bytes. Entries look like the
    engine's: acts on cases, an act's data, a deadline on some."""
    prev = GENESIS
    chunk: list[tuple[Any, ...]] = []
    for seq in range(1, n + 1):
        at = START + timedelta(seconds=seq * 3, microseconds=seq % 1_000_000)
        case_id = seq // 3 + 1
        action, before, after = ACTIONS[seq % 3]
        data = (
            f'{{"data":{{"note":"材料齐全 / complete","amount_fen":{(seq * 7919) % 100_000}}},"version":{seq % 3 + 1}}}'
        )
        due = at + timedelta(days=10) if seq % 2 else None
        region = f"3411221{seq % 40:03d}01"
        actor, role = f"official{seq % 50}", "township_officer"
        link = Link(seq, at, actor, role, region, case_id, action, before, after, data, due, prev)
        sealed = body(link)
        encoding = sealed.encode()
        digest = hashlib.sha256(_DOMAIN + prev.encode() + b"\x00" + encoding).hexdigest()
        chunk.append(
            (seq, at, actor, role, region, case_id, action, before, after, data, due, prev, digest, sealed, encoding)
        )
        prev = digest
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sqlite_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(path: str, n: int, tick: Callable[[int], None]) -> str:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # loading only: the figure is the verify, not the load
    head = GENESIS
    for chunk in entries(n):
        conn.executemany(
            "INSERT INTO audit_entries (seq, at, actor, role, region_code, case_id, action, from_state, to_state, "
            "data, due_at, prev_hash, hash, body) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(*r[:1], _sqlite_time(r[1]), *r[2:10], _sqlite_time(r[10]), r[11], r[12], r[13]) for r in chunk],
        )
        head = chunk[-1][12]
        tick(len(chunk))
    conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (n, head))
    conn.commit()
    conn.close()
    return head


def load_postgres(url: str, n: int, tick: Callable[[int], None]) -> str:
    import psycopg

    head = GENESIS
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            for chunk in entries(n):
                with cur.copy(
                    "COPY audit_entries (seq, at, actor, role, region_code, case_id, action, from_state, to_state, "
                    "data, due_at, prev_hash, hash, body) FROM STDIN"
                ) as copy:
                    for r in chunk:
                        copy.write_row(r[:14])
                head = chunk[-1][12]
                tick(len(chunk))
            cur.execute("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", (n, head))
        conn.commit()
        conn.execute("ANALYZE audit_entries")  # as autovacuum would after a load this size
        conn.commit()
    return head


def hashlib_seconds(n: int) -> float:
    """SHA-256 chained over the same canonical bytes, as the verifier hashes them (time in hashing only)."""
    spent = 0.0
    for chunk in entries(n):
        prev = GENESIS if chunk[0][0] == 1 else chunk[0][11]
        encodings = [r[14] for r in chunk]
        start = time.perf_counter()
        sha256, domain = hashlib.sha256, _DOMAIN
        for encoding in encodings:
            prev = sha256(domain + prev.encode() + b"\x00" + encoding).hexdigest()
        spent += time.perf_counter() - start
    return spent


@dataclass
class VerifyFigures:
    db: str
    n: int
    workers: int
    load_s: float
    one_s: float
    split_s: float
    since_s: float
    since_entries: int
    hashlib_s: float
    peak_rss_mb: float
    one_cpu_s: float = 0.0  # the verifying process, 1 process
    one_server_cpu_s: float | None = None  # its PostgreSQL server process, when on this host
    split_cpu_s: float = 0.0  # the split verify's processes together (not the server's)

    def cpu_lines(self) -> list[str]:
        """CPU time per entry, µs: less at the mercy of other work on the host than the rates."""
        per = 1e6 / self.n
        server = "" if self.one_server_cpu_s is None else f" + server {self.one_server_cpu_s * per:.2f}"
        return [
            f"CPU per entry, 1 process: {self.one_cpu_s * per:.2f} µs{server}",
            f"CPU per entry, {self.workers} processes together: {self.split_cpu_s * per:.2f} µs",
        ]

    def rows(self) -> list[tuple[str, float, str, float | None]]:
        """(figure, entries per s, baseline, ratio to hashlib)."""
        rate = self.n / self.hashlib_s
        return [
            (
                f"audit verify, 1 process, {self.n:,} entries, per s",
                self.n / self.one_s,
                "hashlib",
                self.n / self.one_s / rate,
            ),
            (
                f"audit verify, {self.workers} processes, {self.n:,} entries, per s",
                self.n / self.split_s,
                "hashlib",
                self.n / self.split_s / rate,
            ),
            (f"hashlib SHA-256 chained over the same bytes, {self.n:,}, per s", rate, "—", None),
        ]


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _server_cpu(s: Any) -> Callable[[], float | None]:
    """The CPU time so far of the PostgreSQL server process behind session `s`, read from /proc when the
    server runs on this host (None elsewhere, and on SQLite)."""
    if s.get_bind().dialect.name != "postgresql":
        return lambda: None
    stat = Path(f"/proc/{s.execute(text('SELECT pg_backend_pid()')).scalar_one()}/stat")

    def read() -> float | None:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return read


def measure(
    db: str,
    n: int,
    *,
    workers: int = 2,
    directory: Path = Path("."),
    pg_url: str = PG_DEFAULT,
    settle_below: float | None = None,
) -> VerifyFigures:
    with fresh(db, directory, pg_url, "verify") as (url, target), progress() as bar:
        task = bar.add_task(f"{db}: loading {n:,} audit entries", total=n, rate="")
        started = time.perf_counter()

        def tick(k: int) -> None:
            done = bar.tasks[0].completed + k
            bar.update(task, advance=k, rate=f"{done / (time.perf_counter() - started):,.0f}/s")

        (load_sqlite if db == "sqlite" else load_postgres)(target, n, tick)
        load_s = time.perf_counter() - started
        bar.update(task, visible=False)
        settle(settle_below, say=bar.console.print)
        database = Database(url)
        try:
            with database.session(write=False) as s:
                server_cpu = _server_cpu(s)
                server_before, cpu_before = server_cpu(), time.process_time()
                start = time.perf_counter()
                one = verify_log(s, workers=1)
                one_s = time.perf_counter() - start
                one_cpu_s, server_after = time.process_time() - cpu_before, server_cpu()
                one_server_cpu_s = (
                    server_after - server_before if server_before is not None and server_after is not None else None
                )
                children_before, cpu_before = _children_cpu(), time.process_time()
                start = time.perf_counter()
                split = verify_log(s, workers=workers, min_range=1)
                split_s = time.perf_counter() - start
                split_cpu_s = _children_cpu() - children_before + time.process_time() - cpu_before
                if not (one.ok and split.ok and one.entries == split.entries == n):
                    raise RuntimeError(f"the generated chain does not verify: {one}, {split}")
                tail = max(n // 100, 1)
                head_at = s.execute(text("SELECT hash FROM audit_entries WHERE seq = :s"), {"s": n - tail}).scalar_one()
                kept = Checkpoint(n - tail, head_at, "", "", "")
                start = time.perf_counter()
                since = verify_log(s, kept, since_checkpoint=True, workers=workers)
                since_s = time.perf_counter() - start
                if not since.ok:
                    raise RuntimeError(f"the chain does not verify from a checkpoint: {since}")
        finally:
            database.dispose()
    hashed = hashlib_seconds(n)
    figures = (one_s, split_s, since_s, tail, hashed, _peak_rss_mb(), one_cpu_s, one_server_cpu_s, split_cpu_s)
    return VerifyFigures(db, n, workers, load_s, *figures)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.verify_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--dir", type=Path, default=Path("."))
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    parser.add_argument(
        "--settle", type=float, default=None, help="wait for the 1-min load average to fall below this before timing"
    )
    args = parser.parse_args()
    f = measure(
        args.db,
        args.n,
        workers=args.workers,
        directory=args.dir,
        pg_url=args.pg_url.rstrip("/"),
        settle_below=args.settle,
    )
    out = sys.stdout.write
    out(f"{f}\n")
    for figure, rate, baseline, ratio in f.rows():
        out(f"{figure}: {rate:,.0f}" + (f"  ({ratio:.2f} of {baseline})" if ratio else "") + "\n")
    out(f"since a checkpoint {f.since_entries:,} entries back: {f.since_s * 1000:.0f} ms\n")
    for line in f.cpu_lines():
        out(line + "\n")
    out(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}\n")


if __name__ == "__main__":
    main()
