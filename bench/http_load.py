"""HTTP load: the app served as production serves it, against a bare FastAPI app on the same server.

    python -m bench.http_load --db sqlite|postgres|both [--rounds 3] [--seconds 1] [--cases 1000]
                              [--pg-url URL] [--dir .]

`aidflow serve` (uvicorn, one process, its timer and mail workers in-process) runs on 127.0.0.1 and a
free port against a fresh migrated database (a SQLite file, or a PostgreSQL database created and
dropped by the run) in which one village of one township holds `--cases` applications waiting at
village review, filed through the services as an official files them. Beside it, `bare_app` (one GET
returning a small JSON, one POST reading a small JSON body) is served by uvicorn with the same
settings. Both log to files, never to an unread pipe.

A closed loop of 1, 8 and 50 clients (asyncio + httpx, a fresh keep-alive pool per run) runs for
`--seconds` each of: the action endpoint (village_pass, each request on a case of its own, so every one
is a real transition), GET /api/v1/queue, the /queue page and a case's page (cookie login), each beside
the bare endpoint (POST for the action, GET for the reads), subject and baseline alternating in short
rounds (subject first in odd rounds, baseline first in even ones), after one discarded warm-up pass at
the lowest level. Every status is checked; anything but 200 counts as an error. A figure is the
median of its rounds with the lowest and highest round; a ratio is taken within each round, then its
median. The server's peak RSS (VmHWM) is reset before each run where the kernel lets it (clear_refs),
so it is the peak of that run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

import migrations
from bench.figures import DB_NAMES, PG_DEFAULT, Spread
from bench.figures import Target as RatioTarget
from bench.report import spread_text, verdict

COUNTY, TOWNSHIP, VILLAGE = "341122000000", "341122100000", "341122100201"
PASSWORD = "load-bench-2026-passphrase"
SECRET = "bench-http-load-secret-key-0123456789abcdef"
OFFICER, SECOND = "clerk", "clerk2"
CLIENTS = (1, 8, 50)
# (subject, its baseline, label); the order of the pairs within a round.
PAIRS = (
    ("action", "bare POST", "POST …/actions/village_pass (a transition)"),
    ("queue", "bare GET", "GET /api/v1/queue"),
    ("queue page", "bare GET", "GET /queue page"),
    ("case page", "bare GET", "GET /applications/{id} page"),
)
TARGET = RatioTarget("action/bare", ">=", 0.3)  # the issue: the action at 50 clients ≥ 30% of the bare rate


# --------------------------------------------------------------------------- the bare app


class Ping(BaseModel):
    version: int
    comment: str | None = None


def bare_app() -> FastAPI:
    """The baseline: what FastAPI and uvicorn cost with no database, no session and no template."""
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, Any]:
        return {"ok": True, "state": "village_review", "version": 2}

    @app.post("/ping")
    async def post(body: Ping) -> dict[str, Any]:
        return {"ok": True, "version": body.version + 1}

    return app


# --------------------------------------------------------------------------- database and servers


def seed(url: str, n: int) -> list[tuple[int, int]]:
    """Regions, two village officers and `n` applications at village review; (id, version) of each."""
    from sqlmodel import select

    from api.security import hash_password
    from engine.access import SYSTEM
    from engine.accounts import actor_for, add_region, add_user
    from engine.database import Database
    from engine.tables import User, utcnow
    from tests.households import household
    from workflows.applications import submit_application
    from workflows.env import Env

    migrations.upgrade(url)
    db, env, now = Database(url), Env.load(None, SECRET), utcnow()
    try:
        with db.session() as s:
            for code, name in ((COUNTY, "来安县"), (TOWNSHIP, "新安镇"), (VILLAGE, "大庄村")):
                add_region(s, code=code, name=name, actor=SYSTEM, now=now - timedelta(days=1))
            hashed = hash_password(PASSWORD)
            for username in (OFFICER, SECOND):
                add_user(
                    s,
                    username=username,
                    password_hash=hashed,
                    role="village_officer",
                    region=VILLAGE,
                    actor=SYSTEM,
                    now=now - timedelta(days=1),
                )
        cases: list[tuple[int, int]] = []
        for start in range(0, n, 200):  # filed by the second officer, 200 to a transaction
            with db.session() as s:
                filer = actor_for(s, s.exec(select(User).where(User.username == SECOND)).one())
                for serial in range(start + 1, min(n, start + 200) + 1):
                    case = submit_application(s, env=env, actor=filer, payload=household(serial=serial), now=now).case
                    assert case.id is not None
                    cases.append((case.id, case.version))
        return cases
    finally:
        db.dispose()


@contextmanager
def database(db_kind: str, directory: Path, pg_url: str) -> Iterator[str]:
    """A fresh database URL: a SQLite file in a scratch directory, or a PostgreSQL database; removed after."""
    if db_kind == "sqlite":
        scratch = Path(tempfile.mkdtemp(prefix="aidflow-http-", dir=directory))
        try:
            yield f"sqlite:///{scratch / 'aidflow.db'}"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    import psycopg

    base, name = pg_url.rstrip("/"), f"aidflow_http_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base + "/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(base + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def reset_peak(self) -> bool:
        try:  # "5" resets VmHWM to the present RSS (Linux 4.0+)
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False


def start(command: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    """Start a server, its output to the file `log` (never a pipe nobody reads)."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}: see {server.log}")
        try:
            if httpx.get(server.url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no answer from {server.url}{path} in 60 s: see {server.log}")
        time.sleep(0.1)


@contextmanager
def running(*servers: Server) -> Iterator[None]:
    """Stop the servers afterwards, whatever happened."""
    try:
        yield
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def app_command(port: int) -> list[str]:
    """`aidflow serve` from the interpreter's own environment (the console script, or the same entry)."""
    script = Path(sys.executable).with_name("aidflow")
    head = [str(script)] if script.exists() else [sys.executable, "-c", "from api.cli import main; main()"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port)]


def bare_command(port: int) -> list[str]:
    args = ["--factory", "bench.http_load:bare_app", "--host", "127.0.0.1", "--port", str(port)]
    return [sys.executable, "-m", "uvicorn", *args, "--log-level", "info"]


# --------------------------------------------------------------------------- the load


@dataclass
class Sample:
    """One closed-loop run of one endpoint: rate per second, latencies in ms, errors, server peak RSS."""

    rate: float
    p50: float
    p99: float
    requests: int
    errors: int
    rss_mb: float


@dataclass
class Result:
    db: str
    rounds: int
    seconds: float
    clients: tuple[int, ...]
    cases: int
    samples: dict[tuple[str, int], list[Sample]] = field(default_factory=dict)
    ratios: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    rss_reset: bool = True
    failures: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def spread(self, figure: str, clients: int, pick: Callable[[Sample], float]) -> Spread:
        return Spread.of([pick(s) for s in self.samples[(figure, clients)]])


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


async def closed_loop(
    clients: int, seconds: float, send: Callable[[httpx.AsyncClient], Any], http: httpx.AsyncClient
) -> tuple[float, list[float], Counter[str]]:
    """`clients` tasks, each sending its next request as soon as the last one is answered, for `seconds`
    (or until `send` returns None: nothing left to send). Rate, latencies in s, failures by kind."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    start = time.perf_counter()
    end = start + seconds

    async def client() -> None:
        while time.perf_counter() < end:
            request = send(http)
            if request is None:
                return
            began = time.perf_counter()
            try:
                response = await request
                if response.status_code != 200:
                    failures[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                failures[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - start), latencies, failures


async def login(http: httpx.AsyncClient, app: str) -> dict[str, str]:
    """A bearer token for the API, and the session cookie (kept in `http`) for the pages."""
    r = await http.post(app + "/api/v1/auth/token", data={"username": OFFICER, "password": PASSWORD})
    r.raise_for_status()
    form = (await http.get(app + "/login")).text
    csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    page = await http.post(app + "/login", data={"username": OFFICER, "password": PASSWORD, "csrf_token": csrf})
    if page.status_code != 303:
        raise RuntimeError(f"the page login answered {page.status_code}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def action_budget(cases: int, rounds: int, clients: Sequence[int]) -> int:
    """Cases for each action run: one warm-up run, then one per round at each level (one case is read)."""
    runs = len(clients) * rounds + 1
    if (cases - 1) // runs < max(clients):  # fewer cases than clients would run fewer clients than it says
        raise ValueError(f"{cases} cases are too few for these rounds and clients: at least {max(clients) * runs + 1}")
    return (cases - 1) // runs


async def drive(
    result: Result, app: Server, bare: Server, cases: list[tuple[int, int]], log: Callable[[str], None]
) -> None:
    from engine.calendar import local_date
    from engine.tables import utcnow

    async with httpx.AsyncClient(timeout=60, follow_redirects=False) as first:
        bearer = await login(first, app.url)
        jar = first.cookies
    read_case = cases[0][0]  # shown by the case page; never acted on
    todo = iter(cases[1:])
    visit = local_date(utcnow()).isoformat()
    data = {"investigators": [OFFICER, SECOND], "visit_date": visit, "proposed_monthly_fen": 50_000}
    # Every action run takes its own slice of the cases: one warm-up pass, then each round at each level.
    budget = action_budget(len(cases), result.rounds, result.clients)

    def act(slice_: Iterator[tuple[int, int]]) -> Callable[[httpx.AsyncClient], Any]:
        def send(h: httpx.AsyncClient) -> Any:
            picked = next(slice_, None)
            if picked is None:
                return None
            url = f"{app.url}/api/v1/applications/{picked[0]}/actions/village_pass"
            return h.post(url, headers=bearer, json={"version": picked[1], "comment": "入户调查完成", "data": data})

        return send

    senders: dict[str, Callable[[], Callable[[httpx.AsyncClient], Any]]] = {
        "action": lambda: act(iter([next(todo) for _ in range(budget)])),
        "bare POST": lambda: lambda h: h.post(bare.url + "/ping", json={"version": 2, "comment": "入户调查完成"}),
        "queue": lambda: lambda h: h.get(app.url + "/api/v1/queue", headers=bearer),
        "queue page": lambda: lambda h: h.get(app.url + "/queue"),
        "case page": lambda: lambda h: h.get(f"{app.url}/applications/{read_case}"),
        "bare GET": lambda: lambda h: h.get(bare.url + "/ping"),
    }

    async def one(figure: str, clients: int) -> Sample:
        server = bare if figure.startswith("bare") else app
        result.rss_reset = server.reset_peak() and result.rss_reset
        # A fresh pool for every run: no connection the server may be closing (idle keep-alive) is reused.
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=60, cookies=jar, follow_redirects=False) as http:
            rate, latencies, failures = await closed_loop(clients, result.seconds, senders[figure](), http)
        if not latencies:
            raise RuntimeError(f"{figure} at {clients} clients sent nothing")
        result.failures.update({f"{figure}, {clients} clients: {kind}": n for kind, n in failures.items()})
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        return Sample(rate, p50, p99, len(latencies), sum(failures.values()), server.peak_rss_mb())

    for subject, baseline, _label in PAIRS:  # warm-up: caches, pools, prepared statements; discarded
        await one(subject, result.clients[0])
        await one(baseline, result.clients[0])
    for clients in result.clients:
        for index in range(1, result.rounds + 1):
            for subject, baseline, _label in PAIRS:
                order = (subject, baseline) if index % 2 else (baseline, subject)
                got = {figure: await one(figure, clients) for figure in order}
                for figure, sample in got.items():
                    result.samples.setdefault((figure, clients), []).append(sample)
                result.ratios.setdefault((subject, clients), []).append(got[subject].rate / got[baseline].rate)
            log(f"  {clients} clients, round {index}/{result.rounds}: " + round_line(result, clients))


def round_line(result: Result, clients: int) -> str:
    parts = []
    for figure in ("action", "bare POST", "queue", "queue page", "case page", "bare GET"):
        s = result.samples[(figure, clients)][-1]
        parts.append(f"{figure} {s.rate:,.0f}/s p99 {s.p99:.1f} ms" + (f" {s.errors} errors" if s.errors else ""))
    return "; ".join(parts)


def measure(
    db_kind: str,
    *,
    pg_url: str = PG_DEFAULT,
    directory: Path = Path("."),
    seconds: float = 1.0,
    rounds: int = 3,
    clients: Sequence[int] = CLIENTS,
    cases: int = 1000,
    log: Callable[[str], None] = lambda line: None,
) -> Result:
    """Serve the app on a fresh seeded database and the bare app beside it; run every figure in rounds."""
    result = Result(db_kind, rounds, seconds, tuple(clients), cases)
    action_budget(cases, rounds, clients)  # before anything is seeded
    logs = Path(tempfile.mkdtemp(prefix="aidflow-http-logs-"))
    with database(db_kind, directory, pg_url) as url:
        started = time.perf_counter()
        seeded = seed(url, cases)
        log(f"{DB_NAMES[db_kind]}: {cases:,} applications filed in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "AIDFLOW_DATABASE_URL": url, "AIDFLOW_SECRET_KEY": SECRET}
        env.pop("AIDFLOW_POLICY", None)
        app_port, bare_port = free_port(), free_port()
        app = start(app_command(app_port), env, logs / "app.log", app_port)
        bare = start(bare_command(bare_port), env, logs / "bare.log", bare_port)
        with running(app, bare):
            wait_ready(app, "/healthz")
            wait_ready(bare, "/ping")
            asyncio.run(drive(result, app, bare, seeded, log))
    result.notes.extend(f"failed: {what}: {n}" for what, n in sorted(result.failures.items()))
    if result.failures:
        result.notes.append(f"server logs kept in {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    if not result.rss_reset:
        result.notes.append("VmHWM could not be reset: peak RSS is the peak since the server started")
    return result


# --------------------------------------------------------------------------- the report


def rows(result: Result) -> list[str]:
    """Markdown rows in bench/ratio.py's table: | database | figure | value | baseline | ratio | target | against |"""
    name = DB_NAMES[result.db]
    out: list[str] = []
    for subject, baseline, label in PAIRS:
        for clients in result.clients:
            rate = result.spread(subject, clients, lambda s: s.rate)
            base = result.spread(baseline, clients, lambda s: s.rate)
            ratio = Spread.of(result.ratios[(subject, clients)])
            judged = subject == "action" and clients == 50
            target = TARGET.text() if judged else "—"
            against = verdict(TARGET, ratio) if judged else ""
            out.append(
                f"| {name} | HTTP {label}, {clients} clients, per s | {spread_text(rate, '/s')} "
                f"| {baseline} {spread_text(base, '/s')} | {spread_text(ratio, 'ratio')} | {target} | {against} |"
            )
        for clients in result.clients:
            out.append(
                f"| {name} | HTTP {label}, {clients} clients, p50 / p99 ms, errors, server peak RSS "
                f"| {detail(result, subject, clients)} | {baseline} {detail(result, baseline, clients)} | — | — |  |"
            )
    return out


def detail(result: Result, figure: str, clients: int) -> str:
    samples = result.samples[(figure, clients)]
    p50 = spread_text(Spread.of([s.p50 for s in samples]), "ms")
    p99 = spread_text(Spread.of([s.p99 for s in samples]), "ms")
    sent, failed = sum(s.requests for s in samples), sum(s.errors for s in samples)
    return f"{p50} / {p99}; {failed} errors in {sent:,}; peak RSS {max(s.rss_mb for s in samples):,.0f} MB"


def errors(result: Result) -> int:
    return sum(s.errors for samples in result.samples.values() for s in samples)


def main(argv: Sequence[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds at each level of clients")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each figure's run in a round")
    parser.add_argument("--cases", type=int, default=1000, help="applications at village review (the action's)")
    parser.add_argument("--clients", default="1,8,50", help="concurrent clients, comma-separated")
    parser.add_argument("--dir", default=".", help="where the SQLite scratch file goes")
    parser.add_argument("--pg-url", default=os.environ.get("AIDFLOW_BENCH_PG_URL", PG_DEFAULT))
    args = parser.parse_args(argv)
    clients = tuple(int(c) for c in args.clients.split(","))
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    options = {"pg_url": args.pg_url, "directory": Path(args.dir), "seconds": args.seconds, "cases": args.cases}
    results = [measure(kind, rounds=args.rounds, clients=clients, log=say, **options) for kind in kinds]
    say("")
    say("| database | figure | value | baseline | ratio | target | against the target |")
    say("|---|---|---|---|---|---|---|")
    for result in results:
        for line in rows(result):
            say(line)
    for result in results:
        for note in result.notes:
            say(f"{DB_NAMES[result.db]}: note: {note}")
    return results


if __name__ == "__main__":
    main()
