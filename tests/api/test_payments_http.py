"""Payments and funds over HTTP: the finance page's list, export, reconciliation upload and the fund ledger."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime

from fastapi.testclient import TestClient
from openpyxl import Workbook

from engine.access import SYSTEM
from engine.database import Database
from engine.secrets import FieldCipher
from engine.tables import Case
from tests.api.conftest import SECRET
from tests.factories import COUNTY, TOWNSHIP, VILLAGE
from workflows.env import Env
from workflows.fund import deposit_fund
from workflows.payments import run_payments
from workflows.policy import Policy

Tokens = Callable[[str], dict[str, str]]
MONTH = "2026-11"
ACCOUNT = "6222020200112233445"


def active_households(db_url: str, now: datetime, accounts: list[str | None]) -> list[int]:
    """Running cases, active since October, with their accounts (None: no account on file); and a run."""
    db = Database(db_url)
    cipher = FieldCipher(SECRET)
    ids = []
    with db.session() as s:
        for i, account in enumerate(accounts):
            data = {
                "aid_type": "dibao",
                "applicant": {"name": f"王小英{i}"},
                "activated_at": "2026-10-21T02:00:00+00:00",
                "monthly_amount_fen": 50_000 + i,
                **({"bank_account_enc": cipher.encrypt(account)} if account else {}),
            }
            case = Case(
                workflow="standard",
                workflow_version=1,
                reference=f"PAYTEST-{i:05d}",
                region_code=VILLAGE,
                township_code=TOWNSHIP,
                county_code=COUNTY,
                state="active",
                state_entered_at=now,
                data=data,
                created_at=now,
                updated_at=now,
            )
            s.add(case)
            s.flush()
            assert case.id is not None
            ids.append(case.id)
    with db.session() as s:
        env = Env.of(Policy.load(None), SECRET)
        run_payments(s, env=env, month=MONTH, actor=SYSTEM, now=datetime(2026, 11, 20, tzinfo=now.tzinfo))
    db.dispose()
    return ids


def upload(fmt: str, rows: list[tuple[str, str, str]]) -> tuple[str, bytes, str]:
    header = ("reference", "status", "reason")
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out).writerows([header, *rows])
        return ("../../etc/passwd", out.getvalue().encode(), "text/csv")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (header, *rows):
        sheet.append(list(row))
    raw = io.BytesIO()
    book.save(raw)
    return ("结果.xlsx", raw.getvalue(), "application/octet-stream")


def test_the_payments_list_names_the_household_and_village_and_masks_the_account_in_scope(
    client: TestClient, token_for: Tokens, db_url: str, now: datetime
) -> None:
    first, second = active_households(db_url, now, [ACCOUNT, None])
    r = client.get(f"/api/v1/payments?month={MONTH}", headers=token_for("township1"))
    assert r.status_code == 200, r.text
    lines = {line["application_id"]: line for line in r.json()}
    assert lines[first]["reference"] == f"PAY202611-{first:08d}"
    assert lines[first]["name"] == "王小英0"
    assert lines[first]["village"] == VILLAGE
    assert lines[first]["account"] == "*" * 15 + "3445"
    assert lines[first]["status"] == "pending"
    assert lines[second]["held_reason"]
    assert lines[second]["account"] is None
    assert client.get(f"/api/v1/payments?month={MONTH}", headers=token_for("township2")).json() == []


def test_a_township_officer_exports_the_bank_file_and_uploads_the_banks_result_twice(
    client: TestClient, token_for: Tokens, db_url: str, now: datetime
) -> None:
    first, _ = active_households(db_url, now, [ACCOUNT, "6222020200112233446"])
    body = {"month": MONTH, "township": TOWNSHIP, "format": "csv"}
    r = client.post("/api/v1/payments/export", headers=token_for("township1"), json=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-batch-count"] == "2"
    assert r.headers["x-batch-total-fen"] == "100001"
    assert f'filename="payments-{TOWNSHIP}-{MONTH}-1.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[1][:2] == [f"PAY202611-{first:08d}", ACCOUNT]
    assert rows[2][3] == "500.01"
    again = client.post("/api/v1/payments/export", headers=token_for("township1"), json=body)
    assert again.content == r.content
    assert again.headers["x-sha256"] == r.headers["x-sha256"]
    refs = [row[0] for row in rows[1:]]
    result = upload(
        "xlsx", [(refs[0], "paid", ""), (refs[1], "failed", "账户冻结"), ("PAY209901-00000001", "paid", "")]
    )
    done = client.post("/api/v1/payments/reconcile", headers=token_for("township1"), files={"file": result})
    assert done.status_code == 200, done.text
    assert (done.json()["paid"], done.json()["failed"], done.json()["unknown"]) == (1, 1, ["PAY209901-00000001"])
    repeat = client.post("/api/v1/payments/reconcile", headers=token_for("township1"), files={"file": result})
    assert (repeat.json()["paid"], repeat.json()["failed"], repeat.json()["unchanged"]) == (0, 0, 2)
    listed = {
        x["reference"]: x for x in client.get(f"/api/v1/payments?month={MONTH}", headers=token_for("township1")).json()
    }
    assert listed[refs[1]]["status"] == "failed"
    assert listed[refs[1]]["failure_reason"] == "账户冻结"
    by_hand = client.post(
        f"/api/v1/payments/{refs[1]}/paid-by-hand", headers=token_for("township1"), json={"reason": "现金发放"}
    )
    assert by_hand.status_code == 200, by_hand.text
    assert by_hand.json()["status"] == "paid"


def test_the_bank_file_is_refused_to_a_village_officer_and_another_township(
    client: TestClient, token_for: Tokens, db_url: str, now: datetime
) -> None:
    active_households(db_url, now, [ACCOUNT])
    body = {"month": MONTH, "township": TOWNSHIP, "format": "xlsx"}
    for who in ("village1", "township2", "inspector"):
        assert client.post("/api/v1/payments/export", headers=token_for(who), json=body).status_code == 403
    statuses = {
        x["status"] for x in client.get(f"/api/v1/payments?month={MONTH}", headers=token_for("township1")).json()
    }
    assert statuses == {"pending"}


def test_a_result_file_over_the_bound_is_refused_before_it_is_read(client: TestClient, token_for: Tokens) -> None:
    big = ("r.csv", b"reference,status,reason\r\n" + b"x" * (5 * 1024 * 1024), "text/csv")
    r = client.post("/api/v1/payments/reconcile", headers=token_for("township1"), files={"file": big})
    assert r.status_code == 413


def test_the_fund_ledger_is_shown_to_officials_and_inspectors_in_scope_only(
    client: TestClient, token_for: Tokens, db_url: str, now: datetime
) -> None:
    db = Database(db_url)
    with db.session() as s:
        deposit_fund(
            s, env=Env.of(Policy.load(None), SECRET), township_code=TOWNSHIP, amount_fen=300_000, actor=SYSTEM, now=now
        )
    db.dispose()
    for who in ("township1", "county", "inspector"):
        r = client.get(f"/api/v1/funds/{TOWNSHIP}", headers=token_for(who))
        assert r.status_code == 200, (who, r.text)
        body = r.json()
        assert (body["region"], body["balance_fen"]) == (TOWNSHIP, 300_000)
        assert [(e["kind"], e["amount_fen"], e["balance_after_fen"]) for e in body["entries"]] == [
            ("deposit", 300_000, 300_000)
        ]
        assert body["entries"][0]["at"]
    for who in ("township2", "village1", "inspector2"):
        assert client.get(f"/api/v1/funds/{TOWNSHIP}", headers=token_for(who)).status_code == 404, who
    statement = client.get(f"/api/v1/funds/{TOWNSHIP}/statement?month=2026-09", headers=token_for("township1"))
    assert statement.json()["closing_fen"] == 300_000


def test_reading_the_payments_list_or_the_finance_page_writes_an_audit_entry(
    client: TestClient, token_for: Tokens, db_url: str, now: datetime
) -> None:
    from sqlmodel import select

    from engine.tables import AuditEntry
    from tests.api.test_pages import _login

    first, second = active_households(db_url, now, [ACCOUNT, None])
    assert client.get(f"/api/v1/payments?month={MONTH}", headers=token_for("township1")).status_code == 200
    _login(client, "township1")
    page = client.get(f"/payments?month={MONTH}&township={TOWNSHIP}")
    assert page.status_code == 200
    db = Database(db_url)
    with db.session(write=False) as s:
        reads = s.exec(select(AuditEntry).where(AuditEntry.action == "payments_read").order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
        seen = [(e.actor, json.loads(e.data)["where"], json.loads(e.data)["application_ids"]) for e in reads]
    db.dispose()
    assert seen == [("township1", "api", [first, second]), ("township1", "page", [first, second])]
