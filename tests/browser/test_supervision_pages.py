"""The county's supervision page and a village's standing list (P17) in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from playwright.sync_api import Page, expect

from engine.database import Database
from engine.tables import Case
from tests.browser.conftest import Seeded, _url
from tests.factories import COUNTY, TOWNSHIP, VILLAGE
from workflows.models import CountyFiling, CountyVisit

Check = Callable[[Page, str], None]


def _supervised(township: Seeded) -> None:
    """Two supported households decided under delegation: one filed, one not; a visit due on the first."""
    db = Database(_url(township.source))
    now = township.moment
    with db.session() as s:
        for i in range(2):
            case = Case(
                workflow="standard",
                workflow_version=1,
                reference=f"SUPTEST-{i:05d}",
                region_code=VILLAGE,
                township_code=TOWNSHIP,
                county_code=COUNTY,
                state="active",
                state_entered_at=now,
                data={
                    "aid_type": "dibao",
                    "applicant": {"name": f"郑春{i}花"},
                    "monthly_amount_fen": 48_000,
                    "members": [{"name": f"郑春{i}花"}, {"name": "郑小"}],
                },
                created_at=now,
                updated_at=now,
            )
            s.add(case)
            s.flush()
            assert case.id is not None
            decided = now - timedelta(days=3)
            s.add(
                CountyFiling(
                    case_id=case.id,
                    decision="approve",
                    decided_by="township1b",
                    decided_at=decided,
                    due_at=now + timedelta(days=4),
                    region_code=VILLAGE,
                    township_code=TOWNSHIP,
                    county_code=COUNTY,
                    filed_at=decided + timedelta(days=1) if i == 0 else None,
                    filed_by="township1" if i == 0 else None,
                )
            )
            if i == 0:
                s.add(CountyVisit(case_id=case.id, county_code=COUNTY, reason="sample", created_at=now))
    db.dispose()


def test_the_county_acknowledges_a_filing_on_its_supervision_page(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    _supervised(township)
    page = page_as("county")
    page.goto(page.url.split("/queue")[0] + "/supervision")
    expect(page.get_by_role("heading", level=1)).to_have_text("县级监督")
    expect(page.get_by_role("button", name="确认备案")).to_have_count(1)
    expect(page.get_by_role("button", name="报县备案")).to_have_count(0)
    expect(page.get_by_text("待乡镇报备")).to_be_visible()
    expect(page.get_by_label("核查情况")).to_be_visible()
    check_page(page, "supervision")
    page.get_by_role("button", name="确认备案").click()
    page.wait_for_load_state()
    expect(page.get_by_role("button", name="确认备案")).to_have_count(0)
    expect(page.get_by_text("表中的已完成备案共 1 件。")).to_be_visible()


def test_P17_the_standing_list_page_masks_names(
    township: Seeded, page_as: Callable[..., Page], check_page: Check
) -> None:
    _supervised(township)
    page = page_as("county")
    page.goto(page.url.split("/queue")[0] + f"/notices/standing?village={VILLAGE}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("长期公示")
    rows = [r.inner_text() for r in page.locator("table.queue tbody tr").all()]
    assert len(rows) == 2
    assert "郑**花" in rows[0]
    check_page(page, "standing")
