"""Officials log in and see their work in a real browser, in Chinese and English, on a desk and a phone."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import PHONE, SECOND_VILLAGE, Seeded, log_in

Check = Callable[[Page, str], None]


def _rows(page: Page) -> list[str]:
    return [r.inner_text() for r in page.locator("table.queue tbody tr").all()]


def test_a_township_officer_sees_the_work_due_soonest_first_with_its_marks(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("township1")
    assert page.url.endswith("/queue")
    expect(page.get_by_role("heading", level=1)).to_have_text("待办")
    rows = _rows(page)
    assert len(rows) == 6, rows
    assert "赵桂兰" in rows[0]
    assert "已逾期 8 天" in rows[0], "the overdue case first, marked"
    assert "即将到期，剩 1 天" in rows[1], "then those due within two working days"
    assert "即将到期，剩 1 天" in rows[2]
    assert {"钱德明", "周海燕"} == {n for n in ("钱德明", "周海燕") if n in rows[1] + rows[2]}
    assert "孙秀英" in rows[3]
    assert "剩 6 天" in rows[3]
    assert all("无期限" in r for r in rows[4:]), f"undated work last: {rows}"
    assert "¥480.00/月" in rows[0], "the amount the village proposed, in yuan"
    assert "大庄村" in rows[0]
    assert "最低生活保障" in rows[0]
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日（星期.）", rows[0]), "the deadline as a Chinese date"
    assert any("小河村" in r for r in rows), "both villages of the township"
    assert any("急难救助" in r for r in rows)
    stages = page.locator(".stage-list").inner_text()
    assert "全部 6" in stages.replace("\n", " ")
    assert "乡镇审核 3" in stages.replace("\n", " ")
    check_page(page, "desk")


def test_filters_narrow_the_queue_by_village_stage_and_aid_type(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("township1")
    page.get_by_label("村", exact=True).select_option(SECOND_VILLAGE)
    page.get_by_role("button", name="筛选").click()
    rows = _rows(page)
    assert len(rows) == 1
    assert "小河村" in rows[0]
    page.goto(page.url.split("?")[0])
    page.get_by_label("救助类型").select_option("emergency")
    page.get_by_role("button", name="筛选").click()
    assert len(_rows(page)) == 1
    assert "临时救助" in _rows(page)[0]
    page.get_by_role("link", name="清除筛选").click()
    page.locator(".stage-list a", has_text="乡镇审核").click()
    rows = _rows(page)
    assert len(rows) == 3
    assert all("乡镇审核" in r for r in rows)
    check_page(page, "stage")


def test_a_village_officer_sees_only_their_villages_work_in_english_on_a_phone(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("village1", viewport=PHONE)
    page.goto(page.url + "?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    rows = _rows(page)
    assert rows, "the village's own cases wait for its review"
    assert all("大庄村" in r for r in rows)
    assert not any("小河村" in r for r in rows), "another village's work is not theirs"
    assert all("No deadline" in r for r in rows)
    assert page.get_by_label("Village").count() == 0, "one village: nothing to choose"
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")  # the language is remembered
    check_page(page, "phone-en")


def test_english_dates_and_amounts_read_the_english_way(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("township1")
    page.goto(page.url + "?lang=en")
    first = _rows(page)[0]
    assert "days overdue" in first or "day overdue" in first or "Overdue" in first
    assert "¥480.00 a month" in first
    assert re.search(r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) \d{1,2} \w+ \d{4}", first)
    assert "Minimum living allowance" in first
    check_page(page, "desk-en")


def test_a_wrong_password_is_summarised_at_the_top_and_linked_to_its_field(
    township: Seeded, live_server: str, contexts: Callable[..., BrowserContext], check_page: Check
) -> None:
    page = contexts().new_page()
    log_in(page, live_server, "township1", password="not the password")
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    link = summary.get_by_role("link", name="用户名或密码错误")
    link.click()
    expect(page.get_by_label("密码")).to_be_focused()
    assert page.title().startswith("错误：")
    check_page(page, "login-error")


def test_logging_out_ends_the_session(township: Seeded, page_as: Callable[..., Page], check_page: Check) -> None:
    page = page_as("township1")
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("status")).to_have_text("您已退出登录。")
    check_page(page, "logged-out")
    page.goto(page.url.split("/login")[0] + "/queue")
    assert "/login" in page.url, "the queue asks for a login again"


def test_without_javascript_an_official_logs_in_filters_and_logs_out(
    township: Seeded,
    live_server: str,
    contexts: Callable[..., BrowserContext],
    screenshot: Callable[[Page, str], None],
) -> None:
    page = contexts(java_script_enabled=False).new_page()
    page.goto(f"{live_server}/queue")
    assert "/login" in page.url
    page.get_by_label("用户名").fill("township1")
    page.get_by_label("密码").fill("correct horse battery")
    page.get_by_role("button", name="登录", exact=True).click()
    assert page.url.endswith("/queue")
    assert len(_rows(page)) == 6
    page.get_by_label("环节", exact=True).select_option("township_review")
    page.get_by_role("button", name="筛选").click()
    assert len(_rows(page)) == 3
    screenshot(page, "no-js")
    page.get_by_role("button", name="退出登录").click()
    assert "/login" in page.url


def test_every_page_answers_with_the_security_headers(
    township: Seeded, live_server: str, contexts: Callable[..., BrowserContext]
) -> None:
    page = contexts().new_page()
    for path in ("/", "/login", "/queue", "/missing"):
        response = page.goto(live_server + path)
        assert response is not None
        headers = response.all_headers()
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"], path


def test_a_post_without_the_csrf_token_is_refused(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("township1")
    response = page.request.post(page.url.split("/queue")[0] + "/logout", form={"csrf_token": "forged"})
    assert response.status == 403
    assert "表单已失效" in response.text()
    page.reload()
    assert page.url.endswith("/queue"), "still logged in"
    page.goto(page.url.split("/queue")[0] + "/")
    check_page(page, "landing")
