"""PostgreSQL itself stopped with `pg_ctl stop -m immediate` (no checkpoint, no clean shutdown: a power cut
as far as the database can tell) while `aidflow serve` answers clients, on a cluster this test creates and
owns. After PostgreSQL restarts and recovers from its WAL, every acknowledged act is there, the app serves
again without a restart of its own, and verify passes. Runs on every backend: the cluster is its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from engine.auditlog import verify_log
from engine.database import Database
from tests.reliability.test_crash import AIDFLOW, _Clients, _free_port, _log, _seed, _wait_healthy
from tests.tally import record
from tests.workflows.support import SECRET
from workflows.oversight.live import verify_live

STOPS = int(os.environ.get("AIDFLOW_PG_STOPS", "3"))


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else name


class Cluster:
    """A PostgreSQL cluster of the test's own, in a temporary folder, on a free loopback port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aidflow-pg-"))
        self.data, self.sockets = self.dir / "data", self.dir / "sock"
        self.sockets.mkdir()
        self.port = _free_port()
        if os.geteuid() == 0:  # PostgreSQL will not run as root: the cluster belongs to its own user
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._as_owner(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _as_owner(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._as_owner(
            _bin("pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60", "-l", str(self.dir / "log"), "start"
        )

    def crash(self) -> None:
        self._as_owner(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [
                *(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []),
                _bin("pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/aidflow"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    try:
        made.start()
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{made.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE aidflow")
        yield made
    finally:
        made.remove()


def test_postgres_stopped_immediately_loses_no_acknowledged_act(cluster: Cluster) -> None:
    import migrations

    migrations.upgrade(cluster.url)
    db = Database(cluster.url)
    fresh = _seed(db, waiting=20, fresh=90)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AIDFLOW_DATABASE_URL": cluster.url, "AIDFLOW_SECRET_KEY": SECRET, "AIDFLOW_SMTP_PORT": "9"}
    serve = subprocess.Popen(
        [*AIDFLOW, "serve", "--port", str(port)], env=env, stdout=_log(env), stderr=subprocess.STDOUT
    )
    stops = 0
    try:
        assert _wait_healthy(base, serve)
        with _Clients(base, fresh) as clients:
            for _ in range(STOPS):
                time.sleep(1.0)
                cluster.crash()
                stops += 1
                time.sleep(0.5)
                cluster.start()
            for t in clients.threads:
                t.join(timeout=300)
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200, "the app serves again by itself"
    finally:
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=60)
    with db.session(write=False) as s:
        passed = {row[0] for row in s.execute(text("SELECT case_id FROM audit_entries WHERE action = 'village_pass'"))}
        chain, live = verify_log(s), verify_live(s)
    db.dispose()
    assert clients.acked <= passed, "every acknowledged act survived the crashes"
    assert set(fresh) <= passed, "and the clients got every case through in the end"
    assert chain.ok, chain
    assert live.ok, live.why
    record("postgres immediate stop", stops=stops, **{"acts acknowledged": len(clients.acked)})
