"""An inspector reads the 月通报 (with its Excel link), the watch list and the flags with their filters."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlmodel import select

from engine.accounts import actor_for
from engine.database import Database
from engine.tables import Case, User
from tests.api.conftest import SECRET
from tests.browser.conftest import Seeded, _url
from tests.households import household
from workflows.acting import perform_action
from workflows.applications import submit_application
from workflows.env import Env
from workflows.policy import Policy

Check = Callable[[Page, str], None]


def test_the_monthly_report_shows_the_townships_the_total_and_an_excel_link(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("inspector")
    month = township.moment.strftime("%Y-%m")
    page.goto(page.url.split("/queue")[0] + f"/reports?month={month}")
    expect(page.get_by_role("heading", level=1)).to_have_text("月通报")
    total = page.locator("table.queue").first.locator("tbody tr").last.inner_text()
    assert "合计" in total
    link = page.get_by_role("link", name="下载 Excel")
    assert "format=xlsx" in (link.get_attribute("href") or "")
    check_page(page, "monthly")


def test_the_flags_page_filters_by_kind_and_shows_each_rule(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("inspector")
    page.goto(page.url.split("/queue")[0] + "/reports/flags")
    expect(page.get_by_role("heading", level=1)).to_have_text("问题线索")
    rules = [r.inner_text() for r in page.locator("table.flags tbody th").all()]
    assert rules, "the seeded township has a missed clock"
    kept = rules[-1]
    page.get_by_label("类别").select_option(label=kept)
    page.get_by_role("button", name="筛选").click()
    shown = [r.inner_text() for r in page.locator("table.flags tbody th").all()]
    assert shown == [r for r in rules if r == kept]
    check_page(page, "flags")


def test_the_watch_list_page_opens_for_an_official(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    page = page_as("inspector")
    page.goto(page.url.split("/queue")[0] + "/reports/watchlist")
    expect(page.get_by_role("heading", level=1)).to_have_text("潜在救助对象")
    expect(page.get_by_text("目前没有需要关注的家庭。")).to_be_visible()
    check_page(page, "watchlist")


def _refused_household(township: Seeded) -> int:
    """A household refused at acceptance while still in hardship: kept on the watch list."""
    db = Database(_url(township.source))
    env = Env.of(Policy.load(None), SECRET)
    try:
        with db.session() as s:
            clerk = actor_for(s, s.exec(select(User).where(User.username == "village1")).one())
            filed = submit_application(s, env=env, actor=clerk, payload=household(serial=61), now=township.moment)
            assert filed.case.id is not None
            case_id = filed.case.id
        with db.session() as s:
            boss = actor_for(s, s.exec(select(User).where(User.username == "township1")).one())
            case = s.get(Case, case_id)
            assert case is not None
            perform_action(
                s,
                env=env,
                actor=boss,
                case_id=case_id,
                action="village_reject",
                version=case.version,
                data={"reason": "户籍不在本村 / not registered here"},
                comment=None,
                now=township.moment,
            )
    finally:
        db.dispose()
    return case_id


def test_a_township_officer_records_a_follow_up_visit_from_the_watch_list(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    _refused_household(township)
    page = page_as("township1")
    page.goto(page.url.split("/queue")[0] + "/reports/watchlist")
    page.get_by_label("回访情况").fill("入户回访，仍无稳定收入")
    expect(page.get_by_label("仍有困难")).to_be_checked()
    page.get_by_role("button", name="登记回访").click()
    expect(page.get_by_text("回访已登记。")).to_be_visible()
    check_page(page, "watchlist-follow-up")
