"""The officers' desk in a real browser: filing for a household, acting on a case through its forms,
refusals and stale forms shown in words, the list and its search, in Chinese and English, on a phone."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlmodel import select

from api import services
from api.deps import AppState
from engine.calendar import local_date
from engine.tables import AuditEntry
from tests.api.conftest import Clock
from tests.browser.conftest import PHONE, Seeded
from tests.factories import VILLAGE
from tests.households import household_body, id_number

Check = Callable[[Page, str], None]
HEAD = id_number("19580505", 71, VILLAGE)
SPOUSE = id_number("19600606", 72, VILLAGE)


def _file_for_a_household(page: Page, base: str, check_page: Check, *, english: bool = False) -> str:
    """Fill /apply for a two-person household, check the answers, confirm; the receipt's page URL."""
    words = {
        "aid": "Aid type" if english else "救助类型",
        "phone": "Phone" if english else "联系电话",
        "reason": "Why the household applies" if english else "申请理由",
        "name": "Name" if english else "姓名",
        "id": "Identity number" if english else "身份证号码",
        "relation": "Relationship to the applicant" if english else "与申请人关系",
        "income": "Monthly income (yuan)" if english else "月收入（元）",
        "assets": "Household assets (yuan)" if english else "家庭财产（元）",
        "add": "Add another household member" if english else "再加一位家庭成员",
        "remove3": "Remove member 3" if english else "删除第 3 位成员",
        "next": "Next: check your answers" if english else "下一步：核对",
        "confirm": "Confirm and submit the application" if english else "确认提交申请",
    }
    page.goto(f"{base}/apply" + ("?lang=en" if english else ""))
    page.get_by_label(words["aid"]).select_option("dibao")
    page.get_by_label(words["phone"]).fill("13800001111")
    page.get_by_label(words["reason"]).fill("老伴重病，家庭收入低")
    block = page.locator("fieldset.row-block").nth(0)
    block.get_by_label(words["name"], exact=True).fill("周老根")
    block.get_by_label(words["id"]).fill(HEAD[:-1] + ("0" if HEAD[-1] != "0" else "1"))
    block.get_by_label(words["relation"]).press("Tab")
    expect(page.locator("#members-0-id_number-typed")).to_be_visible()  # the check digit, judged as typed
    block.get_by_label(words["id"]).fill(HEAD)
    block.get_by_label(words["income"]).fill("300")
    page.get_by_role("button", name=words["add"]).click()
    page.get_by_role("button", name=words["add"]).click()
    assert page.locator("fieldset.row-block").count() == 3
    page.get_by_role("button", name=words["remove3"]).click()
    assert page.locator("fieldset.row-block").count() == 2, "a row removed by a button, no script needed"
    second = page.locator("fieldset.row-block").nth(1)
    second.get_by_label(words["name"], exact=True).fill("吴桂芝")
    second.get_by_label(words["id"]).fill(SPOUSE)
    second.get_by_label(words["relation"]).fill("配偶")
    second.get_by_label(words["income"]).fill("0")
    assert page.locator("fieldset.row-block").nth(0).get_by_label(words["name"], exact=True).input_value() == "周老根"
    page.get_by_label(words["assets"]).fill("2,000")
    check_page(page, "apply")
    page.get_by_role("button", name=words["next"]).click()
    summary = page.locator("main").inner_text()
    assert "周老根" in summary
    assert "吴桂芝" in summary
    assert HEAD in summary
    assert "¥300.00" in summary, "an income typed in yuan, shown back in yuan"
    assert "¥2,000.00" in summary, "assets typed as 2,000 yuan"
    check_page(page, "check-answers")
    page.get_by_role("button", name=words["confirm"]).click()
    expect(page.locator(".receipt")).to_be_visible()
    qr = page.locator("img.qr")
    assert (qr.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert re.search(r"DB-\d{4}-\d{6}", page.locator(".receipt").inner_text())
    assert "/track/" in page.locator(".receipt").inner_text()
    check_page(page, "receipt")
    return page.locator("a", has_text=re.compile("查看此申请|See this application")).get_attribute("href") or ""


def test_a_village_officer_files_for_a_household_and_the_case_is_visited_noticed_and_approved(
    township: Seeded, page_as: Callable[..., Page], check_page: Check, live_server: str, app: FastAPI, clock: Clock
) -> None:
    page = page_as("village1")
    case_url = _file_for_a_household(page, live_server, check_page)
    page.goto(live_server + case_url)
    expect(page.locator(".steps [aria-current=step]")).to_contain_text("村级入户调查")
    body = page.locator("main").inner_text()
    assert "周老根" in body
    assert "提交申请" in body, "the filing is on the timeline"
    assert HEAD not in body, "a village officer sees identity numbers masked"
    act = page.locator("#act-village_pass")
    act.locator("summary").click()
    act.get_by_label("陈村干").check()
    act.get_by_label("village1b").check()
    act.get_by_label("入户调查日期").fill(local_date(clock.moment).isoformat())
    act.get_by_label("赞成票").fill("15")
    act.get_by_label("反对票").fill("1")
    act.get_by_label("弃权票").fill("0")
    act.get_by_label("拟保障金额（元/月）").fill("480")
    check_page(page, "village-pass-form")
    act.get_by_role("button", name=re.compile("确认")).click()
    expect(page.locator(".banner-success")).to_contain_text("村级评议通过")
    records = page.locator("main").inner_text()
    assert "陈村干" in records
    assert "赞成 15 票" in records
    assert "¥480.00" in records

    state: AppState = app.state.aidflow
    clock.moment += timedelta(days=10)
    services.run_timers(state.db, clock.moment, state.env, clock=clock)  # the first notice ends

    checker = page_as("county")  # the county's checking body records its 核对 report on each member (P4)
    checker.goto(live_server + case_url)
    for member, income, assets in (("1", "300", "2,000"), ("2", "0", "0")):
        report = checker.locator("#act-record_verification")
        report.locator("summary").click()
        report.get_by_label("家庭成员").select_option(member)
        report.get_by_label("核对月收入（元）").fill(income)
        report.get_by_label("核对财产（元）").fill(assets)
        report.get_by_label("核查情况").fill("存款、车辆、工商登记与申报一致")
        report.get_by_role("button", name=re.compile("确认")).click()
        expect(checker.locator(".banner-success")).to_contain_text("记录核对报告")
    checked = checker.locator("#verification-report").inner_text()
    assert "周老根" in checked
    assert "吴桂芝" in checked
    assert "尚无核对报告" not in checked
    check_page(checker, "verification-report")

    opinion = page_as("township1")
    opinion.goto(live_server + case_url)
    assert HEAD in opinion.locator("main").inner_text(), "a township officer sees the identity number"
    form = opinion.locator("#act-township_pass")
    form.locator("summary").click()
    form.get_by_label("乡镇审核意见").fill("经审核，情况属实")
    form.get_by_role("button", name=re.compile("确认")).click()
    expect(opinion.locator(".banner-success")).to_contain_text("乡镇审核通过")
    check_page(opinion, "township-opinion")

    clock.moment += timedelta(days=10)
    services.run_timers(state.db, clock.moment, state.env, clock=clock)  # the second notice ends
    approver = page_as("township1b")
    approver.goto(live_server + case_url)
    decide = approver.locator("#act-approve")
    decide.locator("summary").click()
    decide.get_by_label("保障金额（元/月）").fill("480")
    decide.get_by_label("保障方式").select_option("household")
    decide.get_by_label("审批依据").fill("家庭人均收入低于当地低保标准 / per-person income below the local standard")
    decide.get_by_role("button", name=re.compile("确认")).click()
    expect(approver.locator(".banner-success")).to_contain_text("审批通过")
    timeline = approver.locator(".timeline").inner_text()
    for said in ("村级评议通过", "乡镇审核通过", "审批通过", "刘乡干"):
        assert said in timeline, f"{said!r} missing from the timeline: {timeline}"
    check_page(approver, "approved")


def test_a_refused_house_visit_shows_every_reason_beside_its_field_and_keeps_what_was_typed(
    township: Seeded, page_as: Callable[..., Page], check_page: Check, live_server: str
) -> None:
    page = page_as("village1")
    page.goto(f"{live_server}/applications/{township.ids['undated']}")
    act = page.locator("#act-village_pass")
    act.locator("summary").click()
    act.get_by_label("陈村干").check()
    act.get_by_label("赞成票").fill("3")
    act.get_by_label("拟保障金额（元/月）").fill("450.5")
    act.get_by_role("button", name=re.compile("确认")).click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    reasons = summary.locator("li").all_inner_texts()
    assert any("调查人员" in r for r in reasons), reasons
    assert any("入户调查日期" in r for r in reasons), reasons
    assert any("民主评议" in r for r in reasons), reasons
    beside = page.locator("#act-village_pass .error-message").all_inner_texts()
    assert len(beside) >= 3, beside
    assert page.locator("#village_pass-investigators .error-message").count() >= 1
    assert page.locator("#village_pass-visit_date").get_attribute("aria-invalid") == "true"
    assert act.get_by_label("陈村干").is_checked(), "the choices are kept"
    assert act.get_by_label("拟保障金额（元/月）").input_value() == "450.5"
    check_page(page, "refused")


def test_a_form_acted_on_by_someone_else_first_says_so_and_shows_what_changed(
    township: Seeded, page_as: Callable[..., Page], live_server: str, clock: Clock, check_page: Check
) -> None:
    case_url = f"{live_server}/applications/{township.ids['undated']}"
    late = page_as("township1b")
    late.goto(case_url)
    first = page_as("township1")
    first.goto(case_url)
    form = first.locator("#act-village_reject")
    form.locator("summary").click()
    form.get_by_label("理由").fill("家庭收入超过标准")
    form.get_by_role("button", name=re.compile("确认")).click()
    expect(first.locator(".banner-success")).to_be_visible()
    mine = late.locator("#act-village_reject")
    mine.locator("summary").click()
    mine.get_by_label("理由").fill("资料不全")
    mine.get_by_role("button", name=re.compile("确认")).click()
    stale = late.locator("#stale")
    expect(stale).to_contain_text("他人已先办理")
    expect(stale).to_contain_text("不予受理")
    expect(stale).to_contain_text("张乡干")
    check_page(late, "stale")


def test_a_case_outside_the_officers_scope_is_the_not_found_page(
    township: Seeded, page_as: Callable[..., Page], live_server: str, check_page: Check
) -> None:
    page = page_as("village2")
    response = page.goto(f"{live_server}/applications/{township.ids['undated']}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("未找到")
    check_page(page, "not-found")


def test_the_list_finds_a_household_by_name_or_by_identity_number_within_scope(
    township: Seeded, page_as: Callable[..., Page], live_server: str, check_page: Check, app: FastAPI
) -> None:
    page = page_as("township1")
    page.goto(f"{live_server}/applications")
    page.get_by_label("按姓名或身份证号码查找").fill("桂兰")
    page.get_by_role("button", name="查找").click()
    rows = page.locator("table.queue tbody tr").all_inner_texts()
    assert len(rows) == 1, rows
    assert "赵桂兰" in rows[0]
    page.get_by_label("按姓名或身份证号码查找").fill(household_body(serial=1)["applicant"]["id_number"])
    page.get_by_role("button", name="查找").click()
    rows = page.locator("table.queue tbody tr").all_inner_texts()
    assert len(rows) == 1, rows
    assert "赵桂兰" in rows[0]
    check_page(page, "search")
    with app.state.aidflow.db.session(write=False) as session:
        searches = session.exec(select(AuditEntry).where(AuditEntry.action == "search_cases")).all()
    assert [e.actor for e in searches] == ["township1", "township1"], "each search that shows names is audited"
    other = page_as("township2")
    other.goto(f"{live_server}/applications?q=赵桂兰")
    assert other.locator("table.queue tbody tr").count() == 0, "another township's officer finds nothing"


def test_the_same_filing_in_english_on_a_phone(
    township: Seeded, page_as: Callable[..., Page], check_page: Check, live_server: str
) -> None:
    page = page_as("village1", viewport=PHONE)
    _file_for_a_household(page, live_server, check_page, english=True)
    expect(page.locator(".receipt h1")).to_have_text("Receipt for an application for social assistance")
