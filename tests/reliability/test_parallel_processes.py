"""Processes in parallel on one PostgreSQL database: three `aidflow serve` and two `aidflow worker`, many
clients racing on the same cases through different servers, and two `aidflow payments run` at once. One
winner per version (exactly one 200 for each race on a case's version, the others 409), each timer fired
once, each mail sent once (a real SMTP server on loopback, Message-IDs compared with the outbox), each
payment line made once; the chain and the live state verify.

Several processes sharing one database is what PostgreSQL is for (SQLite serialises writers in one file),
so the test is PostgreSQL's only: it is defined in `make test-postgres` (AIDFLOW_TEST_DB=postgres) and not
in the SQLite half, which collects nothing from this file rather than skipping it.
AIDFLOW_PARALLEL_CASES scales the races (default 30 cases, 8 clients each)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime, timedelta

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlmodel import select

from engine.accounts import actor_for
from engine.auditlog import verify_log
from engine.database import Database
from engine.tables import User, utcnow
from tests.conftest import BACKEND
from tests.reliability.test_crash import AIDFLOW, PASSWORD, _free_port, _Inbox, _seed, _visit, _wait_healthy
from tests.tally import record
from tests.workflows.support import APPROVE, SECRET, TOWNSHIP_PASS, Flow, World, household, make_env
from workflows.oversight.live import verify_live
from workflows.payments import month_of
from workflows.schemas import ApplicationIn

CASES = int(os.environ.get("AIDFLOW_PARALLEL_CASES", "30"))
CLIENTS = 8
SERVERS, WORKERS, WAITING, ACTIVE = 3, 2, 40, 12


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    port, box = _free_port(), _Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


def _people(db: Database) -> World:
    """The World of a database the county was already seeded in."""
    with db.session(write=False) as s:
        found = {u.username: u for u in s.exec(select(User)).all()}
        names = [f.name for f in fields(World)]
        return World(**{n: actor_for(s, found[n]) for n in names})


def _to_active(flow: Flow, payload: ApplicationIn, filed: datetime) -> int:
    """Flow.to("active") at a date of our own (its visit is dated in the test suite's fixed present)."""
    w, day = flow.world, timedelta(days=1)
    case_id = flow.submit(payload, filed)
    flow.verify(case_id, filed)
    flow.act(case_id, "village_pass", w.clerk, filed, _visit(filed))
    flow.sweep(filed + 7 * day)
    flow.act(case_id, "township_pass", w.boss, filed + 8 * day, TOWNSHIP_PASS)
    flow.sweep(filed + 15 * day)
    flow.act(case_id, "approve", w.boss2, filed + 16 * day, APPROVE)
    flow.sweep(filed + 23 * day)
    assert flow.state(case_id) == "active"
    return case_id


def _race(bases: list[str], token: str, case_id: int) -> Counter[int]:
    """CLIENTS clients read the case's version through the servers in turn, then all pass it at once."""
    statuses: Counter[int] = Counter()
    lock, ready = threading.Lock(), threading.Barrier(CLIENTS)
    auth = {"Authorization": f"Bearer {token}"}

    def client(i: int) -> None:
        with httpx.Client(base_url=bases[i % len(bases)], timeout=30, headers=auth) as http:
            version = http.get(f"/api/v1/applications/{case_id}").json()["version"]
            ready.wait()
            r = http.post(
                f"/api/v1/applications/{case_id}/actions/village_pass",
                json={"version": version, "data": _visit(utcnow())},
            )
        with lock:
            statuses[r.status_code] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return statuses


def _until(check: object, limit: float = 120) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


if BACKEND == "postgres":

    def test_three_servers_and_two_workers_on_one_database_do_everything_once(
        db: Database, db_url: str, smtp: tuple[int, _Inbox]
    ) -> None:
        smtp_port, box = smtp
        fresh = _seed(db, waiting=WAITING, fresh=CASES)  # the county's people, with passwords, come with it
        flow = Flow(db, make_env(), _people(db))
        past = utcnow() - timedelta(days=60)
        active = [_to_active(flow, household(serial=300 + i), past) for i in range(ACTIVE)]
        env = {
            **os.environ,
            "AIDFLOW_DATABASE_URL": db_url,
            "AIDFLOW_SECRET_KEY": SECRET,
            "AIDFLOW_SMTP_HOST": "127.0.0.1",
            "AIDFLOW_SMTP_PORT": str(smtp_port),
            "AIDFLOW_TIMER_INTERVAL_SECONDS": "0.3",
            "AIDFLOW_OUTBOX_INTERVAL_SECONDS": "0.2",
        }
        ports = [_free_port() for _ in range(SERVERS)]
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        procs = [
            subprocess.Popen(
                [*AIDFLOW, "serve", "--port", str(p)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for p in ports
        ]
        procs += [
            subprocess.Popen(
                [*AIDFLOW, "worker", "--interval", "0.2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for _ in range(WORKERS)
        ]
        started = time.monotonic()
        try:
            assert all(_wait_healthy(b, procs[i]) for i, b in enumerate(bases))
            token = httpx.post(
                f"{bases[0]}/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD}, timeout=30
            ).json()["access_token"]
            races = {case_id: _race(bases, token, case_id) for case_id in fresh}
            month = month_of(utcnow())
            runs = [
                subprocess.Popen(
                    [*AIDFLOW, "payments", "run", "--month", month, "--quiet", "--part-size", "3"], env=env
                )
                for _ in range(2)
            ]
            assert [r.wait(timeout=300) for r in runs] == [0, 0]

            def settled() -> bool:
                with db.session(write=False) as s:
                    waiting = s.execute(text("SELECT count(*) FROM cases WHERE state = 'notice_village'")).scalar()
                    unsent = s.execute(text("SELECT count(*) FROM outbox WHERE status <> 'sent'")).scalar()
                # The raced cases stand on their notice (7 days to run); the seeded ones' were due at once.
                return waiting == len(fresh) and unsent == 0

            assert _until(settled), "every due timer fired and every mail went out"
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.communicate()
        elapsed = time.monotonic() - started

        for case_id, statuses in races.items():
            assert statuses == Counter({200: 1, 409: CLIENTS - 1}), (case_id, statuses)
        with db.session(write=False) as s:
            closes = Counter(
                row[0]
                for row in s.execute(
                    text(
                        "SELECT case_id FROM audit_entries"
                        " WHERE action = 'close_notice' AND from_state = 'notice_village'"
                    )
                )
            )
            fired = s.execute(text("SELECT count(*) FROM timers WHERE fired_at IS NOT NULL")).scalar() or 0
            lines = Counter(tuple(row) for row in s.execute(text("SELECT case_id, month FROM payment_lines")))
            outbox = [row[0] for row in s.execute(text("SELECT dedupe_key FROM outbox"))]
            chain, live = verify_log(s), verify_live(s)
        seeded = [c for c in closes if c not in fresh and c not in active]
        assert len(seeded) == WAITING, "every due notice was closed"
        assert all(n == 1 for n in closes.values()), "each timer fired once"
        assert set(lines) == {(c, month) for c in active}, "a line for each active case"
        assert all(n == 1 for n in lines.values()), "each payment line once"
        received = Counter(box.ids)
        expected = {f"<{key.replace(':', '.').replace('@', '.')}@aidflow.invalid>" for key in outbox}
        assert set(received) == expected, "each outbox message reached the server under its own Message-ID"
        assert all(n == 1 for n in received.values()), "each mail sent once"
        assert chain.ok, chain
        assert live.ok, live.why
        record(
            "parallel processes (PostgreSQL)",
            **{"servers": SERVERS, "workers": WORKERS, "races": len(races), "racing requests": CLIENTS * len(races)},
            **{"winners": sum(r[200] for r in races.values()), "409s": sum(r[409] for r in races.values())},
            **{"timers fired": fired, "notices closed": len(seeded), "mails": len(outbox), "payment lines": len(lines)},
            **{"s to settle": int(elapsed)},
        )
