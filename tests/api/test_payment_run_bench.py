"""bench.payment_run's households are ones the monthly run pays: one line each, the approved amount,
none held; the same month again adds none."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import text

from bench import payment_run
from engine.auditlog import verify_log
from engine.database import Database

HOUSEHOLDS = 7


def test_the_loaded_households_are_paid_once_each_and_a_rerun_adds_no_line(db_url: str) -> None:
    now = datetime.now(UTC)
    month = payment_run.this_month(now)
    ticks: list[int] = []
    if db_url.startswith("sqlite"):
        payment_run.load_sqlite(db_url.removeprefix("sqlite:///"), HOUSEHOLDS, now, ticks.append)
    else:
        payment_run.load_postgres(db_url, HOUSEHOLDS, now, ticks.append)
    assert sum(ticks) == HOUSEHOLDS

    said = payment_run.run_cli(db_url, month)
    assert f"created {HOUSEHOLDS}, already present 0, retried 0, held 0" in said
    assert payment_run.counted(db_url, month) == (HOUSEHOLDS, HOUSEHOLDS, HOUSEHOLDS)

    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            lines = conn.execute(
                text("SELECT l.amount_fen, l.held_reason, c.data FROM payment_lines l JOIN cases c ON c.id = l.case_id")
            ).all()
        for amount, held, data in lines:
            data = json.loads(data) if isinstance(data, str) else data
            assert held is None, "every loaded household has a bank account"
            assert amount == data["monthly_amount_fen"] > 0
            assert data["bank_account_enc"].startswith("v1:")

        again = payment_run.run_cli(db_url, month)
        assert f"created 0, already present {HOUSEHOLDS}" in again
        assert payment_run.counted(db_url, month) == (HOUSEHOLDS, HOUSEHOLDS, HOUSEHOLDS)
        with db.session(write=False) as s:
            assert verify_log(s).ok
    finally:
        db.dispose()


def test_the_figures_are_rows_of_the_ratio_table() -> None:
    figures = payment_run.PaymentFigures("postgres", 10, run_s=40.0, rerun_s=1.0, raw_s=2.0)
    run, rerun = payment_run.rows(figures)
    assert run.startswith("| PostgreSQL | payment run, one month")
    assert run.count("|") == 8
    assert "| 20.0 | < 30 s | **missed** (one run) |" in run
    assert "| 0.5 | < 5 s | **met** (one run) |" in rerun
