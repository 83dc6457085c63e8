"""The household follows its case by its code, the public reads a village's board, prints it and
objects, and an inspector checks the chain and a case's trail: in a real browser, on a phone, in
Chinese and English, and never a full name, identity number or phone on a public page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import col, select

from engine.auditlog import make_checkpoint, public_key_b64
from engine.tables import AuditEntry
from tests.api.conftest import Clock, application_body, record_verification
from tests.browser.conftest import PHONE, Seeded, Township
from tests.factories import VILLAGE

Check = Callable[[Page, str], None]
NAME = "钱小梅"
SPOUSE = "钱大林"


class Household:
    """One application of this test, filed by the village officer and moved on over the API."""

    def __init__(self, work: Township, *, serial: int, aid_type: str = "dibao") -> None:
        self.work = work
        body = application_body(serial=serial, aid_type=aid_type)
        body["applicant"]["name"] = body["members"][0]["name"] = NAME
        body["members"][1]["name"] = SPOUSE
        self.body = body
        r = work.client.post("/api/v1/applications", json=body, headers=work.token_for("village1"))
        assert r.status_code == 201, r.text
        self.case: dict[str, Any] = r.json()
        self.code: str = self.case["tracking_code"]

    @property
    def secrets(self) -> list[str]:
        """What no public page may show: full names, identity numbers, the phone."""
        people = self.body["members"]
        return [NAME, SPOUSE, self.body["applicant"]["phone"], *(p["id_number"] for p in people)]

    def attempt(self, user: str, action: str, data: dict[str, Any]) -> int:
        c = self.work.client
        current = c.get(f"/api/v1/applications/{self.case['id']}", headers=self.work.token_for(user)).json()
        r = c.post(
            f"/api/v1/applications/{self.case['id']}/actions/{action}",
            headers=self.work.token_for(user),
            json={"version": current["version"], "data": data},
        )
        return r.status_code

    def act(self, user: str, action: str, data: dict[str, Any]) -> None:
        assert self.attempt(user, action, data) == 200

    def village_pass(self) -> None:
        """The county's 核对 report on both members (P4), then the village forwards the case."""
        record_verification(self.work.client, self.work.token_for, self.case)
        self.work.village_pass_id(self.case["id"], 50_000)

    def days_pass(self, days: int) -> None:
        self.work.clock.moment += timedelta(days=days)
        self.work.sweep()


def _village_pass(work: Township, case_id: int, proposed_fen: int) -> None:
    work.ids["_public"] = case_id
    work.village_pass("_public", proposed_fen)


Township.village_pass_id = _village_pass  # type: ignore[attr-defined]


@pytest.fixture
def work(app: FastAPI, clock: Clock, township: Seeded) -> Township:
    """Acts over the API on the same app (and clock) the browser's server serves."""
    return Township(app, TestClient(app), clock)


def _no_personal_data(page: Page, household: Household) -> None:
    html = page.content()
    shown = [s for s in household.secrets if s in html]
    assert shown == [], f"{page.url} shows {shown}"


def _phone(contexts: Callable[..., BrowserContext], **options: Any) -> Page:
    return contexts(viewport=PHONE, is_mobile=True, has_touch=True, **options).new_page()


def test_a_household_on_a_phone_follows_its_case_from_filing_to_active_by_its_code(
    work: Township, live_server: str, contexts: Callable[..., BrowserContext], check_page: Check
) -> None:
    home = Household(work, serial=61)
    assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){4}", home.code)
    page = _phone(contexts)
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="办理进度查询").click()
    page.get_by_label("查询码").fill(home.code.lower().replace("-", " "))
    page.get_by_role("button", name="查询").click()
    assert page.url.endswith(f"/track/{home.code}"), "the address shows the code as printed"
    expect(page.locator(".status-now")).to_have_text("村委会正在入户调查和评议")
    expect(page.locator(".steps [aria-current=step]")).to_contain_text("村级入户调查、评议")
    _no_personal_data(page, home)
    check_page(page, "filed")

    home.village_pass()
    page.reload()
    expect(page.locator(".status-now")).to_have_text("正在公示")
    expect(page.locator(".steps [aria-current=step]")).to_contain_text("村级公示")
    due = page.locator(".status-box").inner_text()
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日（星期.）", due), due

    home.days_pass(8)
    home.act("township1", "township_pass", {"opinion": "核查属实 / verified"})
    home.days_pass(8)
    page.reload()
    expect(page.locator(".steps [aria-current=step]")).to_contain_text("审批决定")
    home.act(
        "township1b",
        "approve",
        {
            "monthly_amount_fen": 50_000,
            "mode": "household",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    )
    home.days_pass(8)
    page.reload()
    expect(page.locator(".status-now")).to_have_text("已批准，按月发放")
    paid = page.locator(".paid").inner_text()
    assert "500.00元" in paid, paid
    assert re.search(r"从这个月开始发放：\d{4}年\d{1,2}月", paid), paid
    assert page.locator(".steps .is-done").count() == 6, "every step done once it is paid monthly"
    _no_personal_data(page, home)
    check_page(page, "active")

    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Progress")
    expect(page.locator(".status-now")).to_have_text("Approved: paid monthly")
    paid = page.locator(".paid").inner_text()
    assert "¥500.00" in paid
    assert re.search(r"First month paid: [A-Z][a-z]+ \d{4}", paid), paid
    _no_personal_data(page, home)
    check_page(page, "active-en")


def test_a_refused_household_reads_the_written_reason_and_the_routes_of_appeal_with_their_time_limits(
    work: Township, live_server: str, contexts: Callable[..., BrowserContext], check_page: Check
) -> None:
    home = Household(work, serial=65)
    home.village_pass()
    home.days_pass(8)
    home.act("township1", "township_pass", {"opinion": "核查属实 / verified"})
    home.days_pass(8)
    home.act("township1b", "deny", {"reason": "家庭财产超过规定 / assets above the limit"})
    page = _phone(contexts)
    page.goto(f"{live_server}/track/{home.code}")
    expect(page.locator(".status-now")).to_have_text("申请未获批准")
    expect(page.locator(".reason")).to_contain_text("家庭财产超过规定")
    appeal = page.locator(".appeal").inner_text()
    assert "60 日内" in appeal, appeal
    assert "行政复议" in appeal, appeal
    assert "6 个月内" in appeal, appeal
    assert "行政诉讼" in appeal, appeal
    expect(page.locator(".steps .is-stopped")).to_contain_text("审批决定")
    assert page.locator(".steps .is-done").count() == 4, "the steps before the decision, and none after it"
    check_page(page, "refused")
    page.get_by_role("link", name="English").click()
    appeal = page.locator(".appeal").inner_text()
    assert "within 60 days" in appeal, appeal
    assert "within 6 months" in appeal, appeal


def test_the_public_opens_a_villages_board_prints_it_objects_and_follows_the_objection_to_its_finding(
    work: Township, live_server: str, contexts: Callable[..., BrowserContext], check_page: Check
) -> None:
    home = Household(work, serial=71)
    home.village_pass()
    page = _phone(contexts)
    page.goto(f"{live_server}/notices")
    page.get_by_label("村、乡镇或县").select_option(VILLAGE)
    page.get_by_role("button", name="查看公示").click()
    expect(page.locator("h1")).to_have_text("大庄村 公示栏")
    listing = page.locator(".listing", has_text=home.case["reference"])
    text = listing.inner_text()
    assert "钱*梅" in text
    assert "2 人" in text, text
    assert "最低生活保障" in text, text
    assert "500.00元/月" in text, text
    assert re.search(r"\d{1,2}月\d{1,2}日至\d{1,2}月\d{1,2}日", text), text
    assert "乡镇人民政府社会救助经办窗口" in page.locator(".how-to-object").inner_text()
    _no_personal_data(page, home)
    check_page(page, "board")

    page.get_by_role("link", name="打印公示表").click()
    expect(page.locator("h1")).to_have_text("大庄村 社会救助对象公示")
    assert page.locator("svg.qr").count() == 1
    assert "/notices/object?village=" + VILLAGE in page.locator(".qr-address").inner_text()
    _no_personal_data(page, home)
    check_page(page, "sheet")
    page.emulate_media(media="print")
    assert page.locator(".site-header").is_hidden(), "the sheet prints without the site's header"
    page.pdf(path=str(Path(__file__).resolve().parents[2] / "screenshots" / "notice-sheet.pdf"), format="A4")
    page.emulate_media(media="screen")

    page.goto(f"{live_server}/notices?village={VILLAGE}")
    listing = page.locator(".listing", has_text=home.case["reference"])
    listing.get_by_role("link", name=re.compile("对此户提出异议")).click()
    page.get_by_label("异议理由").fill("该户有一辆货车，没有申报")
    page.get_by_role("button", name="提交异议").click()
    expect(page.locator("h1")).to_have_text("异议回执")
    receipt = page.locator(".code-large").inner_text().strip()
    assert re.fullmatch(r"YY(-[2-9A-Z]{4}){5}", receipt), receipt
    check_page(page, "receipt")

    page.goto(f"{live_server}/notices?village={VILLAGE}")
    listing = page.locator(".listing", has_text=home.case["reference"])
    expect(listing.locator(".tag-objected")).to_have_text("异议核查中")

    page.goto(f"{live_server}/track")
    page.get_by_label("查询码").fill(receipt.lower())
    page.get_by_role("button", name="查询").click()
    expect(page.locator("h1")).to_have_text("异议处理进度")
    expect(page.locator(".steps [aria-current=step]")).to_contain_text("核查中")
    home.act("township1b", "dismiss_objection", {"finding": "经核查，该货车已于2025年报废"})
    page.reload()
    expect(page.locator(".status-now")).to_have_text("异议不成立：该申请继续办理")
    expect(page.locator(".reason")).to_have_text("经核查，该货车已于2025年报废")
    assert page.locator(".steps .is-done").count() == 3
    _no_personal_data(page, home)
    check_page(page, "objection-found")
    page.get_by_role("link", name="English").click()
    expect(page.locator(".status-now")).to_have_text("The objection was not upheld: the case continues")


def test_without_javascript_the_public_tracks_a_code_and_objects(
    work: Township, live_server: str, contexts: Callable[..., BrowserContext], screenshot: Check
) -> None:
    home = Household(work, serial=75)
    home.village_pass()
    page = _phone(contexts, java_script_enabled=False)
    page.goto(f"{live_server}/track")
    page.get_by_label("查询码").fill(home.code.replace("-", ""))
    page.get_by_role("button", name="查询").click()
    expect(page.locator(".status-now")).to_have_text("正在公示")
    page.goto(f"{live_server}/notices/object?village={VILLAGE}")
    choice = page.locator("#notice option", has_text=home.case["reference"]).get_attribute("value")
    assert choice
    page.get_by_label("对哪一户提出异议").select_option(choice)
    page.get_by_label("异议理由").fill("收入与申报不符")
    page.get_by_role("button", name="提交异议").click()
    expect(page.locator("h1")).to_have_text("异议回执")
    screenshot(page, "receipt-no-js")


def test_an_unknown_code_is_answered_on_the_form_with_what_to_do(
    work: Township, live_server: str, contexts: Callable[..., BrowserContext], check_page: Check
) -> None:
    page = _phone(contexts)
    response = page.goto(f"{live_server}/track/ABCD-EFGH-JKMN-PQRS-TUVW")
    assert response is not None
    assert response.status == 404
    expect(page.locator(".error-summary")).to_contain_text("没有找到这个查询码")
    check_page(page, "unknown")


def test_an_inspector_verifies_the_chain_opens_a_cases_trail_and_verifies_an_uploaded_checkpoint(
    work: Township, app: FastAPI, page_as: Callable[..., Page], check_page: Check, tmp_path: Path
) -> None:
    home = Household(work, serial=81)
    home.village_pass()
    state = app.state.aidflow
    key = Ed25519PrivateKey.generate()
    with state.db.session(write=False) as session:
        checkpoint = make_checkpoint(session, key, work.clock.moment)
    upload = tmp_path / "检查点 2026-10.json"
    upload.write_text(checkpoint.to_json(), encoding="utf-8")

    page = page_as("inspector")
    page.goto(page.url.split("/queue")[0] + "/inspector")
    expect(page.locator("h1")).to_have_text("纪检监察")
    expect(page.locator("#chain-title + .status-box .status-now")).to_have_text("审计链完整")
    check_page(page, "chain")

    page.get_by_label("检查点文件").set_input_files(str(upload))
    page.get_by_label("签名公钥").fill(public_key_b64(key))
    page.get_by_role("button", name="核验").click()
    expect(page.locator("#checkpoint-result .status-now")).to_have_text("审计链与检查点一致，检查点之前的记录未被改动")
    assert f"第 {checkpoint.seq} 条" in page.locator("#checkpoint-result").inner_text()
    expect(page.locator("#chain-title + .status-box")).to_contain_text(f"第 {checkpoint.seq} 条，一致")

    other = Ed25519PrivateKey.generate()
    page.get_by_label("检查点文件").set_input_files(str(upload))
    page.get_by_label("签名公钥").fill(public_key_b64(other))
    page.get_by_role("button", name="核验").click()
    expect(page.locator("#checkpoint-result .status-now")).to_have_text("检查点不是由指定公钥签名的")

    page.get_by_label("内部编号").fill(str(home.case["id"]))
    page.get_by_role("button", name="查看").click()
    expect(page.locator("h1")).to_contain_text(home.case["reference"])
    trail = page.locator(".trail-entry")
    assert trail.count() >= 3
    assert "village1" in trail.nth(1).inner_text()
    assert "村工作人员" in trail.nth(1).inner_text()
    check_page(page, "trail")
    with state.db.session(write=False) as session:
        reads = session.exec(
            select(AuditEntry).where(
                AuditEntry.case_id == home.case["id"], AuditEntry.action == "view_case", AuditEntry.role == "inspector"
            )
        ).all()
        checks = session.exec(select(AuditEntry).where(col(AuditEntry.action) == "verify_checkpoint")).all()
    assert [(r.actor, r.role) for r in reads] == [("inspector", "inspector")], "the read of the trail is audited"
    assert len(checks) == 2, "each verification is on the trail"


def test_the_inspectors_flags_report_filters_by_kind_region_period_and_official(
    work: Township, app: FastAPI, page_as: Callable[..., Page], check_page: Check
) -> None:
    home = Household(work, serial=85)
    home.village_pass()
    home.days_pass(8)
    home.act("township1", "township_pass", {"opinion": "核查属实 / verified"})
    home.days_pass(8)
    refused = home.attempt(
        "township1",
        "approve",
        {
            "monthly_amount_fen": 50_000,
            "mode": "household",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    )
    assert refused == 422, "whoever gave the opinion may not decide"
    page = page_as("inspector")
    base = page.url.split("/queue")[0]
    page.goto(f"{base}/inspector/flags")
    everything = page.locator(".flag-list > li").count()
    assert everything >= 1
    page.get_by_label("类型").select_option("refused_attempt")
    page.get_by_role("button", name="筛选").click()
    rows = page.locator(".flag-list > li")
    assert 1 <= rows.count() <= everything
    assert all("township1" in t for t in rows.all_inner_texts())
    check_page(page, "flags")
    page.get_by_label("工作人员").select_option("township1")
    page.get_by_role("button", name="筛选").click()
    assert page.locator(".flag-list > li").count() == rows.count()
    page.goto(f"{base}/inspector/flags?kind=refused_attempt&official=township1b")
    expect(page.locator(".empty")).to_have_text("没有符合条件的异常情况。")
    page.goto(f"{base}/inspector/flags?region=341122101000")
    assert page.locator(".flag-list > li").count() == 0, "another township's flags only"
    page.goto(f"{base}/inspector/flags?from=2030-01-01")
    assert page.locator(".flag-list > li").count() == 0, "nothing flagged after the period's start"
    page.goto(f"{base}/inspector/flags?kind=refused_attempt")
    page.locator(".flag-list a", has_text=home.case["reference"]).first.click()
    expect(page.locator("h1")).to_contain_text(home.case["reference"])
    expect(page.locator(".trail-entry.is-refused").first).to_contain_text("被拒绝")


def test_a_village_officer_reprints_a_lost_receipt_with_a_new_code_and_the_old_one_stops_working(
    work: Township, page_as: Callable[..., Page], check_page: Check
) -> None:
    home = Household(work, serial=91)
    page = page_as("village1")
    base = page.url.split("/queue")[0]
    page.goto(f"{base}/receipts/{home.case['id']}")
    expect(page.locator(".status-box")).to_contain_text("原来的查询码不能再使用")
    page.get_by_role("button", name="换发新查询码并打印回执").click()
    new_code = page.locator(".code-large").inner_text().strip()
    assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){4}", new_code)
    assert new_code != home.code
    assert page.locator("svg.qr").count() == 1
    check_page(page, "receipt")
    assert work.client.get(f"/api/v1/track/{home.code}").status_code == 404
    assert work.client.get(f"/api/v1/track/{new_code}").json()["reference"] == home.case["reference"]
    trail = work.client.get(f"/api/v1/applications/{home.case['id']}/audit", headers=work.token_for("inspector"))
    assert [e["actor"] for e in trail.json() if e["action"] == "reissue_tracking_code"] == ["village1"]
