"""The township's finance page and the fund ledger in a real browser, in Chinese and English."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from engine.access import SYSTEM
from engine.database import Database
from tests.api.conftest import SECRET
from tests.api.test_payments_http import ACCOUNT, MONTH, active_households
from tests.browser.conftest import Seeded, _url
from tests.factories import TOWNSHIP
from workflows.env import Env
from workflows.fund import deposit_fund
from workflows.policy import Policy

Check = Callable[[Page, str], None]


def _seed_lines(township: Seeded) -> list[int]:
    return active_households(_url(township.source), township.moment, [ACCOUNT, None])


def test_a_township_officer_sees_the_months_payments_with_totals_and_held_lines(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    _seed_lines(township)
    page = page_as("township1")
    page.goto(page.url.split("/queue")[0] + f"/payments?month={MONTH}&township={TOWNSHIP}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("发放")
    rows = [r.inner_text() for r in page.locator("table.payments tbody tr").all()]
    assert len(rows) == 2
    assert "王小英0" in rows[0]
    assert "3445" in rows[0]
    assert ACCOUNT not in rows[0], "the page shows the account's last digits only"
    assert "暂缓：无银行账户" in rows[1]
    totals = page.locator("table.totals").inner_text()
    assert "待导出" in totals
    assert "¥1,000.01" in totals.replace("¥1000.01", "¥1,000.01")
    check_page(page, "finance")


def test_export_then_upload_the_banks_result_then_pay_a_failed_line_by_hand(
    township: Seeded, page_as: Callable[..., Page], tmp_path: Path, check_page: Check
) -> None:
    first, _ = _seed_lines(township)
    page = page_as("township1")
    page.goto(page.url.split("/queue")[0] + f"/payments?month={MONTH}&township={TOWNSHIP}")
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 CSV").click()
    saved = tmp_path / "bank.csv"
    download.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert rows[0] == ["reference", "account", "name", "amount"]
    assert rows[1] == [f"PAY202611-{first:08d}", ACCOUNT, "王小英0", "500.00"]
    result = tmp_path / "result.csv"
    result.write_text(f"reference,status,reason\r\n{rows[1][0]},failed,户名不符\r\nPAY209901-00000001,paid,\r\n")
    page.goto(page.url.split("/payments")[0] + f"/payments?month={MONTH}&township={TOWNSHIP}")
    page.get_by_label("银行回盘文件（CSV 或 XLSX：reference、status、reason）").set_input_files(str(result))
    page.get_by_role("button", name="导入回盘").click()
    expect(page.get_by_role("status")).to_contain_text("PAY209901-00000001")
    expect(page.locator(".failed-lines")).to_contain_text("户名不符")
    check_page(page, "reconciled")
    page.get_by_label("手工发放原因").fill("现金发放，村委会见证")
    page.get_by_role("button", name="记为手工发放").click()
    expect(page.locator("table.payments")).to_contain_text("手工发放")
    expect(page.locator(".failed-lines")).to_have_count(0)


def test_the_fund_ledger_page_shows_the_balance_and_the_statement_in_english(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    db = Database(_url(township.source))
    with db.session() as s:
        deposit_fund(
            s,
            env=Env.of(Policy.load(None), SECRET),
            township_code=TOWNSHIP,
            amount_fen=300_000,
            actor=SYSTEM,
            now=township.moment,
        )
    db.dispose()
    page = page_as("township1")
    base = page.url.split("/queue")[0]
    page.goto(f"{base}/funds/{TOWNSHIP}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("备用金台账")
    expect(page.locator("table.ledger")).to_contain_text("存入")
    check_page(page, "fund")
    page.goto(f"{base}/funds/{TOWNSHIP}?lang=en")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Reserve fund ledger")
    expect(page.locator("table.totals")).to_contain_text("Closing balance")
