"""`aidflow payments` and `aidflow fund` on the command line, and a payment run killed at random points."""

from __future__ import annotations

import csv
import io
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import col, func, select
from typer.testing import CliRunner

from api.cli import app
from engine.auditlog import verify_log
from engine.database import Database
from engine.tables import AuditEntry, Case
from tests.workflows.support import SECRET, Flow, household, make_env, make_world
from workflows.models import PaymentLine

MONTH = "2026-11"
TOWNSHIP = "341122100000"
NOW = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)


@pytest.fixture
def flow(db: Database) -> Flow:
    return Flow(db, make_env(), make_world(db))


def cli(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"AIDFLOW_DATABASE_URL": db_url, "AIDFLOW_SECRET_KEY": SECRET})
    assert result.exit_code == 0, result.output
    return result.output


def table(content: bytes) -> list[list[str]]:
    if content[:2] == b"PK":
        return [
            [str(c) for c in r] for r in load_workbook(io.BytesIO(content)).worksheets[0].iter_rows(values_only=True)
        ]
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def results(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    header = ("reference", "status", "reason")
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([header, *rows])
    else:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in (header, *rows):
            sheet.append(list(row))
        book.save(path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_and_reconcile_round_trip_on_the_command_line_and_both_are_idempotent(
    flow: Flow, db_url: str, tmp_path: Path, fmt: str
) -> None:
    for serial in (1, 2):
        flow.to_active(household(serial=serial, bank_account=f"622202020011223344{serial}"), NOW)
    assert "created 2" in cli(db_url, "payments", "run", "--month", MONTH, "--quiet")
    first, again = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    said = cli(
        db_url, "payments", "export", "--month", MONTH, "--township", TOWNSHIP, "--format", fmt, "--out", str(first)
    )
    cli(db_url, "payments", "export", "--month", MONTH, "--township", TOWNSHIP, "--format", fmt, "--out", str(again))
    assert first.read_bytes() == again.read_bytes()
    assert "2 笔" in said
    assert "1000.00" in said
    rows = table(first.read_bytes())
    assert rows[0] == ["reference", "account", "name", "amount"]
    refs = [r[0] for r in rows[1:]]
    assert [r[1] for r in rows[1:]] == ["6222020200112233441", "6222020200112233442"]
    answer = results(
        tmp_path / f"result.{fmt}", [(refs[0], "paid", ""), (refs[1], "failed", "账号不存在"), ("NOPE-1", "paid", "")]
    )
    out = cli(db_url, "payments", "reconcile", str(answer))
    assert "paid 1, failed 1, unchanged 0, unknown 1" in out
    assert "NOPE-1" in out
    assert "paid 0, failed 0, unchanged 2, unknown 1" in cli(db_url, "payments", "reconcile", str(answer))
    assert "retried 1" in cli(db_url, "payments", "run", "--month", MONTH, "--quiet")


def test_fund_deposit_and_show_print_the_balance_and_the_ledger(flow: Flow, db_url: str) -> None:
    cli(db_url, "fund", "deposit", TOWNSHIP, "--amount-fen", "500000")
    cli(db_url, "fund", "refund", TOWNSHIP, "--amount-fen", "1234", "--note", "退回")
    shown = cli(db_url, "fund", "show", TOWNSHIP)
    assert "5012.34" in shown
    assert "deposit" in shown
    assert "refund" in shown
    statement = cli(db_url, "fund", "statement", TOWNSHIP, "--month", datetime.now(UTC).strftime("%Y-%m"))
    assert "期末 / closing" in statement


def _clone_active(flow: Flow, case_id: int, copies: int) -> None:
    """More active households like the first: the run needs to take long enough to be cut short."""
    with flow.session() as s:
        model = s.get(Case, case_id)
        assert model is not None
        for i in range(copies):
            s.add(
                Case(
                    workflow=model.workflow,
                    workflow_version=model.workflow_version,
                    reference=f"{model.reference}-C{i}",
                    region_code=model.region_code,
                    township_code=model.township_code,
                    county_code=model.county_code,
                    state=model.state,
                    version=model.version,
                    entered_version=model.entered_version,
                    state_entered_at=model.state_entered_at,
                    data=dict(model.data),
                    created_at=model.created_at,
                    updated_at=model.updated_at,
                )
            )


def _lines_and_records(flow: Flow) -> tuple[int, int, int]:
    with flow.session(write=False) as s:
        lines = s.exec(select(func.count()).select_from(PaymentLine).where(PaymentLine.month == MONTH)).one()
        distinct = s.exec(
            select(func.count(func.distinct(PaymentLine.case_id))).where(PaymentLine.month == MONTH)
        ).one()
        records = s.exec(
            select(func.count()).select_from(AuditEntry).where(col(AuditEntry.action) == "payment_line")
        ).one()
        return int(lines), int(distinct), int(records)


def test_a_payment_run_killed_at_random_points_twenty_times_pays_every_household_exactly_once(
    flow: Flow, db_url: str
) -> None:
    households = 400
    first = flow.to_active(household(serial=1, bank_account="6222020200112233441"), NOW)
    _clone_active(flow, first, households - 1)
    env = {**os.environ, "AIDFLOW_DATABASE_URL": db_url, "AIDFLOW_SECRET_KEY": SECRET}
    command = [
        sys.executable,
        "-c",
        "from api.cli import main; main()",
        "payments",
        "run",
        "--quiet",
        "--part-size",
        "7",
    ]
    # How long a run takes that makes nothing (a month before payments start): the range to kill in.
    started = time.monotonic()
    subprocess.run([*command, "--month", "2026-10"], env=env, check=True, capture_output=True, timeout=300)
    span = time.monotonic() - started
    rng = random.Random(20261201)
    kills, partial, lines = 0, 0, 0
    for attempt in range(150):  # a rerun of a paid month is quick: many runs end before their kill
        before = lines
        proc = subprocess.Popen([*command, "--month", MONTH], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if attempt % 2 == 0 and before < households:
            # Half the kills land while lines are being written: wait for the first new one.
            waited = time.monotonic()
            while proc.poll() is None and _lines_and_records(flow)[0] == before and time.monotonic() - waited < 120:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            # The other half anywhere from start-up through the run.
            time.sleep(rng.uniform(0.1, 1.2) * span)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        kills += int(proc.returncode == -signal.SIGKILL)
        lines, distinct, records = _lines_and_records(flow)
        assert lines == distinct <= households, "never two lines for one household and month"
        assert records == lines, "a line and the record of its making commit together or not at all"
        partial += int(0 < lines < households)
        if kills >= 20:
            break
    assert kills >= 20
    assert partial >= 1, "some kill landed in the middle of a run"
    subprocess.run([*command, "--month", MONTH], env=env, check=True, capture_output=True, timeout=300)
    assert _lines_and_records(flow) == (households, households, households)
    with flow.session(write=False) as s:
        assert verify_log(s).ok, "the audit chain survived every kill"
