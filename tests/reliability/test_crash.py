"""SIGKILL of a real `aidflow serve` and of `aidflow worker` at random points, while clients fire
transitions, timers sweep and mail is delivered to a real SMTP server on loopback. After the last restart:
nothing acknowledged is lost, no transition or timer happened twice, every mail went out under one
Message-ID (a kill between the server's acceptance and the outbox's mark may repeat a message, never
under a new identity), and verify (the chain and the live state) passes.

AIDFLOW_CRASH_KILLS scales the kills (default 80 per database: 20 of serve, 60 of the worker; with the
payment run's 20 in tests/api/test_cli_payments.py, 200 across SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from api.security import hash_password
from engine.auditlog import verify_log
from engine.calendar import SHANGHAI
from engine.database import Database
from engine.tables import utcnow
from notifications.sender import SmtpSender
from notifications.worker import drain
from tests.tally import record
from tests.workflows.support import SECRET, VILLAGE_PASS, Flow, household, make_env, make_world
from workflows.oversight.live import verify_live

KILLS = int(os.environ.get("AIDFLOW_CRASH_KILLS", "80"))
SERVE_KILLS = KILLS // 4
WORKER_KILLS = KILLS - SERVE_KILLS
PASSWORD = "crash test password"
AIDFLOW = [sys.executable, "-c", "from api.cli import main; main()"]


class _Inbox:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        with self.lock:
            self.ids.append(str(message_from_bytes(envelope.content)["Message-ID"]))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[tuple[int, _Inbox]]:
    port, box = _free_port(), _Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


def _seed(db: Database, waiting: int, fresh: int) -> list[int]:
    """`waiting` cases on a notice whose timer is already due, and `fresh` cases for the clients to pass at
    village review (their ids returned); officials with passwords and e-mail, households with e-mail."""
    flow = Flow(db, make_env(), make_world(db))
    with db.session() as s:
        s.execute(
            text("UPDATE users SET password_hash = :h, email = username || '@xinan.example.cn'"),
            {"h": hash_password(PASSWORD)},
        )
    past = utcnow() - timedelta(days=12)
    for i in range(waiting):
        case_id = flow.submit(household(serial=100 + i, email=f"h{i}@example.cn"), past)
        flow.act(case_id, "village_pass", flow.world.clerk, past, _visit(past))
    return [flow.submit(household(serial=600 + i, email=f"f{i}@example.cn"), utcnow()) for i in range(fresh)]


def _visit(on: datetime) -> dict[str, Any]:
    return {**VILLAGE_PASS, "visit_date": on.astimezone(SHANGHAI).date().isoformat()}


class _Clients:
    """Threads that pass fresh cases at village review over HTTP, and note each act acknowledged."""

    def __init__(self, base: str, cases: list[int]) -> None:
        self.base, self.todo = base, list(cases)
        self.acked: set[int] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(3)]

    def __enter__(self) -> _Clients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _next(self) -> int | None:
        with self.lock:
            return self.todo.pop(0) if self.todo else None

    def _run(self) -> None:
        token: str | None = None
        while not self.stop.is_set():
            case_id = self._next()
            if case_id is None:
                return
            try:
                with httpx.Client(base_url=self.base, timeout=10) as http:
                    if token is None:
                        r = http.post("/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})
                        token = r.json()["access_token"] if r.status_code == 200 else None
                    auth = {"Authorization": f"Bearer {token}"}
                    case = http.get(f"/api/v1/applications/{case_id}", headers=auth)
                    if case.status_code == 200 and case.json()["state"] != "village_review":
                        continue  # passed by a request whose answer a crash swallowed: done, unacknowledged
                    if case.status_code == 200:
                        done = http.post(
                            f"/api/v1/applications/{case_id}/actions/village_pass",
                            headers=auth,
                            json={"version": case.json()["version"], "data": _visit(utcnow())},
                        )
                        if done.status_code == 200:
                            with self.lock:
                                self.acked.add(case_id)
                            continue
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            with self.lock:
                self.todo.append(case_id)  # the server was down: try the case again later
            time.sleep(0.05)


_ZYGOTE = r"""
import json, os, signal, sys
from api.cli import main  # everything imported once, before any fork
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the dead are reaped at once
log = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.argv = ["aidflow", *json.loads(line)]
        try:
            main()
        finally:
            os._exit(0)
    print(pid, flush=True)
"""


class Zygote:
    """One process that imports the app once and forks a fresh `aidflow serve` or `aidflow worker` for each
    start: the same code and process a command runs, started in a tenth of the time an interpreter takes to
    import it all again, so that hundreds of kills fit in a test run."""

    def __init__(self, env: dict[str, str]) -> None:
        log = Path(env.get("AIDFLOW_LOG_DIR") or tempfile.gettempdir()) / "aidflow-reliability.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE, str(log)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self, *args: str) -> int:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(list(args)) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    @staticmethod
    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    @classmethod
    def kill(cls, pid: int) -> int:
        """1 when the process was still running when killed (a crash, not a death of its own)."""
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return 0
        deadline = time.monotonic() + 60
        while cls.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        return 1

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def _wait_healthy(base: str, proc: subprocess.Popen[bytes] | int, limit: float = 60) -> bool:
    deadline = time.monotonic() + limit

    def running() -> bool:
        return Zygote.alive(proc) if isinstance(proc, int) else proc.poll() is None

    while time.monotonic() < deadline and running():
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    return False


def _log(env: dict[str, str]) -> Any:
    """Where a spawned process writes (a file, appended to, beside the test's database when it has one):
    never a pipe nobody reads, which fills with logged errors and stops the process mid-request."""
    path = Path(env.get("AIDFLOW_LOG_DIR") or tempfile.gettempdir()) / "aidflow-reliability.log"
    return path.open("ab")


def _kill(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return int(proc.returncode == -signal.SIGKILL)


def test_serve_and_worker_killed_at_random_lose_nothing_acknowledged_and_do_nothing_twice(
    db: Database, db_url: str, inbox: tuple[int, _Inbox]
) -> None:
    smtp_port, box = inbox
    fresh = _seed(db, waiting=120, fresh=150)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIDFLOW_DATABASE_URL": db_url,
        "AIDFLOW_SECRET_KEY": SECRET,
        "AIDFLOW_SMTP_HOST": "127.0.0.1",
        "AIDFLOW_SMTP_PORT": str(smtp_port),
        "AIDFLOW_TIMER_INTERVAL_SECONDS": "0.3",
        "AIDFLOW_OUTBOX_INTERVAL_SECONDS": "0.2",
    }
    rng = random.Random(20261201)
    serve_kills = worker_kills = 0
    started, timings = time.monotonic(), {}
    zygote = Zygote(env)
    try:
        with _Clients(base, fresh) as clients:
            for _ in range(SERVE_KILLS):
                pid = zygote.start("serve", "--port", str(port))
                if _wait_healthy(base, pid):
                    time.sleep(rng.uniform(0.05, 1.0))
                serve_kills += zygote.kill(pid)
        timings["serve kills"] = time.monotonic() - started
        for _ in range(WORKER_KILLS):
            pid = zygote.start("worker", "--interval", "0.2")
            time.sleep(rng.uniform(0.05, 1.0))
            worker_kills += zygote.kill(pid)
        timings["worker kills"] = time.monotonic() - started
    finally:
        zygote.close()
    # The last restart: serve until every fresh case is passed, then the worker until nothing is due.
    proc = subprocess.Popen(
        [*AIDFLOW, "serve", "--port", str(port)], env=env, stdout=_log(env), stderr=subprocess.STDOUT
    )
    assert _wait_healthy(base, proc)
    with _Clients(base, [c for c in fresh if c not in clients.acked]) as last:
        for t in last.threads:
            t.join(timeout=300)
    _kill(proc)  # not counted: every acknowledged act is in by now
    subprocess.run([*AIDFLOW, "worker", "--once"], env=env, check=True, capture_output=True, timeout=300)
    # Mail claimed by a killed process waits out its lease (5 minutes), a failed send its back-off: deliver
    # them as the worker will once that time has passed.
    later = utcnow() + timedelta(hours=2)
    sender = SmtpSender("127.0.0.1", smtp_port)
    while asyncio.run(drain(db, sender, now=later, sender_address="aidflow@localhost", limit=500)).sent:
        pass
    timings["final"] = time.monotonic() - started

    assert serve_kills == SERVE_KILLS
    assert worker_kills == WORKER_KILLS
    acked = clients.acked | last.acked
    with db.session(write=False) as s:
        passes = Counter(
            row[0] for row in s.execute(text("SELECT case_id FROM audit_entries WHERE action = 'village_pass'"))
        )
        entries = s.execute(
            text(
                "SELECT case_id, action, from_state, to_state FROM audit_entries WHERE case_id IS NOT NULL ORDER BY seq"
            )
        ).all()
        outbox = dict(s.execute(text("SELECT dedupe_key, status FROM outbox")).all())
        chain, live = verify_log(s), verify_live(s)
    assert all(passes[c] == 1 for c in acked), "every acknowledged act is there, once"
    assert all(passes[c] == 1 for c in fresh), "every case was passed exactly once in the end"
    # A timer fires once: a case never leaves a state more often than it entered it.
    entered: Counter[tuple[int, str]] = Counter()
    left: Counter[tuple[int, str]] = Counter()
    for case_id, _action, from_state, to_state in entries:
        if from_state and to_state and from_state != to_state:
            left[(case_id, from_state)] += 1
        if to_state and to_state != from_state:
            entered[(case_id, to_state)] += 1
    assert all(n <= entered[key] for key, n in left.items() if key[1] != "draft"), "no state left twice"
    closed = sum(1 for _c, action, *_ in entries if action == "close_notice")
    assert closed >= 120, "every due notice was closed"
    assert set(outbox.values()) == {"sent"}, "every mail went out in the end"
    received = Counter(box.ids)
    expected = {f"<{key.replace(':', '.').replace('@', '.')}@aidflow.invalid>" for key in outbox}
    assert set(received) == expected, "each outbox message reached the server, under its own Message-ID"
    repeats = sum(n - 1 for n in received.values())
    assert repeats <= serve_kills + worker_kills, "a repeat only where a kill fell between send and mark"
    assert chain.ok, chain
    assert live.ok, live.why
    record(
        "crash (SIGKILL)",
        **{"serve kills": serve_kills, "worker kills": worker_kills, "acts acknowledged": len(acked)},
        **{"mails": len(outbox), "mails repeated": repeats, "notices closed": closed},
        **{f"s to end of {phase}": int(t) for phase, t in timings.items()},
    )
