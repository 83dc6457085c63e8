"""County supervision of delegated decisions: the 备案 within 5 working days, the county's acknowledgement,
its visits to filed relatives' and upheld objections' cases (P13), the seeded monthly sample (P14)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from sqlmodel import select

from engine.access import SYSTEM, Role
from engine.errors import Conflict, GuardRejected, InvalidInput, NotFound
from engine.tables import AuditEntry
from tests.factories import make_user
from tests.workflows.support import (
    APPROVE,
    OFFICIAL_IDS,
    TOWNSHIP_PASS,
    VILLAGE_PASS,
    Flow,
    audit_actions,
    household,
    id_number,
)
from workflows.notices import running_notices
from workflows.objections import raise_objection
from workflows.oversight.live import verify_live
from workflows.oversight.supervision import (
    acknowledge_filing,
    draw,
    draw_sample,
    file_with_county,
    overview,
    record_visit,
    tasks_waiting,
    verify_sample,
)
from workflows.reports import integrity_flags

DAY = timedelta(days=1)
COUNTY = "341122000000"
FINDINGS = "入户核查，家庭情况与申报一致 / the household is as declared"


def decided(flow: Flow, now: datetime, serial: int = 1) -> int:
    """A case the township approved under delegation (16 days after filing)."""
    return flow.to("notice_final", household(serial=serial), now)


def filing_of(flow: Flow, case_id: int, at: datetime) -> int:
    with flow.session(write=False) as s:
        found = overview(s, actor=flow.world.county, region=COUNTY, now=at)
    return next(f.id for f in [*found.filings_to_file, *found.filings_to_acknowledge] if f.application_id == case_id)


def test_delegated_filing_is_due_within_5_working_days_and_the_county_acknowledges(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = decided(flow, now)
    decided_at = now + 16 * DAY
    with flow.session(write=False) as s:
        [filing] = overview(s, actor=w.county, region=COUNTY, now=decided_at).filings_to_file
        assert tasks_waiting(s, actor=w.boss) == 1, "the township has a decision to file"
    assert filing.application_id == case_id
    assert filing.decision == "approve"
    assert filing.decided_by == "boss2"
    assert filing.due_at == flow.env.calendar.add_working_days(decided_at, 5)
    assert not filing.late
    with flow.session() as s, pytest.raises(Conflict, match="not filed this decision yet"):
        acknowledge_filing(s, env=flow.env, actor=w.county, filing_id=filing.id, now=decided_at)
    with flow.session() as s, pytest.raises(NotFound):
        file_with_county(s, env=flow.env, actor=w.far_boss, filing_id=filing.id, now=decided_at)
    with flow.session() as s:
        filed = file_with_county(s, env=flow.env, actor=w.boss, filing_id=filing.id, now=decided_at + DAY)
    assert filed.filed_by == "boss"
    assert not filed.late
    with flow.session(write=False) as s:
        assert tasks_waiting(s, actor=w.county) == 1, "the county has a filing to acknowledge"
        assert tasks_waiting(s, actor=w.boss) == 0
    with flow.session() as s, pytest.raises(NotFound):
        acknowledge_filing(s, env=flow.env, actor=w.boss, filing_id=filing.id, now=decided_at + 2 * DAY)
    with flow.session() as s:
        done = acknowledge_filing(s, env=flow.env, actor=w.county, filing_id=filing.id, now=decided_at + 2 * DAY)
    assert done.acknowledged_by == "county"
    with flow.session(write=False) as s:
        shown = overview(s, actor=w.inspector, region=COUNTY, now=decided_at + 3 * DAY)
        assert [f.id for f in shown.filings_acknowledged] == [filing.id]
        assert tasks_waiting(s, actor=w.county) == 0
        assert audit_actions(s, case_id)[-2:] == ["file_with_county", "acknowledge_filing"]
        assert verify_live(s).ok, "the supervision acts record without moving the case"


def test_delegated_filing_after_5_working_days_is_marked_late(flow: Flow, now: datetime) -> None:
    case_id = decided(flow, now)
    filing_id = filing_of(flow, case_id, now + 16 * DAY)
    with flow.session(write=False) as s:
        [unfiled] = overview(s, actor=flow.world.county, region=COUNTY, now=now + 30 * DAY).filings_to_file
    assert unfiled.late, "past its due time and still not filed"
    with flow.session(write=False) as s:
        before_due = integrity_flags(s, actor=flow.world.inspector, now=now + 17 * DAY)
        overdue = integrity_flags(s, actor=flow.world.inspector, now=now + 30 * DAY)
    assert "filing_late" not in {f.kind for f in before_due}
    [flag] = [f for f in overdue if f.kind == "filing_late"]
    assert flag.application_id == case_id
    assert flag.official == "boss2", "the one who decided and has not filed"
    with flow.session() as s:
        filed = file_with_county(s, env=flow.env, actor=flow.world.boss, filing_id=filing_id, now=now + 30 * DAY)
    assert filed.late
    with flow.session() as s, pytest.raises(Conflict, match="already filed"):
        file_with_county(s, env=flow.env, actor=flow.world.boss, filing_id=filing_id, now=now + 31 * DAY)


def test_delegated_filing_also_for_a_refusal_and_none_without_delegation(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.to("township_approval", household(), now)
    flow.act(case_id, "deny", w.boss2, now + 16 * DAY, {"reason": "家庭财产超标 / assets over the limit"})
    with flow.session(write=False) as s:
        [filing] = overview(s, actor=w.county, region=COUNTY, now=now + 16 * DAY).filings_to_file
    assert (filing.application_id, filing.decision) == (case_id, "deny")
    with flow.session(write=False) as s, pytest.raises(NotFound):
        overview(s, actor=w.far_boss, region=COUNTY, now=now)


def test_P13_the_county_visits_a_filed_relative_s_case_and_an_upheld_objection_s_case(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    declared = [{"name": "李科员", "id_number": id_number("19800101", 777), "relation": "舅舅"}]
    relative = flow.to("township_approval", household(serial=1, relatives=declared), now)
    flow.act(
        relative, "record_county_visit", w.county, now + 16 * DAY, {"visit_date": "2026-10-13", "findings": "属实"}
    )
    flow.act(relative, "approve", w.boss2, now + 16 * DAY, APPROVE)

    objected = flow.submit(household(serial=2), now)
    flow.verify(objected, now)
    flow.act(objected, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(objected, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    with flow.session() as s:
        notice = next(n for n in running_notices(s, env=flow.env, now=now + 9 * DAY) if n.reference.endswith("2"))
        raise_objection(s, env=flow.env, notice_id=notice.id, reason="收入不实", contact=None, now=now + 9 * DAY)
    flow.act(objected, "uphold_objection", w.boss3, now + 10 * DAY, {"finding": "需重新审核 / review again"})
    flow.act(objected, "township_pass", w.boss3, now + 11 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 18 * DAY)
    flow.act(objected, "deny", w.boss2, now + 19 * DAY, {"reason": "收入超标 / income over the standard"})

    plain = decided(flow, now, serial=3)
    with flow.session(write=False) as s:
        seen = overview(s, actor=w.county, region=COUNTY, now=now + 20 * DAY)
    assert [(v.application_id, v.reason) for v in seen.visits_done] == [(relative, "filed_relative")], (
        "the county's visit before the decision counts"
    )
    [due] = seen.visits_due
    assert (due.application_id, due.reason) == (objected, "objection_upheld")
    assert plain not in {v.application_id for v in [*seen.visits_due, *seen.visits_done]}
    with flow.session() as s, pytest.raises(InvalidInput, match="what the visit found"):
        record_visit(s, env=flow.env, actor=w.county, visit_id=due.id, visit_date="2026-10-20", findings=" ", now=now)
    with flow.session() as s, pytest.raises(NotFound):
        record_visit(s, env=flow.env, actor=w.boss, visit_id=due.id, visit_date="2026-10-20", findings="x", now=now)
    with flow.session() as s:
        done = record_visit(
            s,
            env=flow.env,
            actor=w.county,
            visit_id=due.id,
            visit_date="2026-10-20",
            findings=FINDINGS,
            now=now + 22 * DAY,
        )
    assert done.done
    assert done.findings == FINDINGS
    assert done.visited_by == "county"
    with flow.session(write=False) as s:
        assert audit_actions(s, objected)[-1] == "record_county_visit"
        assert verify_live(s).ok


def test_P13_a_county_officer_related_to_the_household_may_not_make_its_visit(flow: Flow, now: datetime) -> None:
    w = flow.world
    related = [{"name": "孙科长", "id_number": OFFICIAL_IDS["county"], "relation": "兄弟姐妹"}]
    # the related county officer may not record the 核对 either: the platform's import does (P4)
    case_id = flow.to("township_approval", household(relatives=related), now, verifier=SYSTEM)
    with flow.session() as s:
        other = make_user(s, "county_b", role=Role.COUNTY_OFFICER, region=COUNTY)
    findings = {"visit_date": "2026-10-13", "findings": "属实 / as declared"}
    flow.act(case_id, "record_county_visit", other, now + 16 * DAY, findings)
    flow.act(case_id, "deny", w.boss2, now + 16 * DAY, {"reason": "财产超标 / assets over the limit"})
    filing_id = filing_of(flow, case_id, now + 16 * DAY)
    with flow.session() as s:
        file_with_county(s, env=flow.env, actor=w.boss, filing_id=filing_id, now=now + 17 * DAY)
    with flow.session() as s, pytest.raises(GuardRejected, match="must recuse"):
        acknowledge_filing(s, env=flow.env, actor=w.county, filing_id=filing_id, now=now + 18 * DAY)
    with flow.session() as s:
        done = acknowledge_filing(s, env=flow.env, actor=other, filing_id=filing_id, now=now + 18 * DAY)
    assert done.acknowledged_by == "county_b"


def test_P14_the_draw_is_reproducible_from_its_seed_and_respects_the_ratio() -> None:
    population = list(range(100, 117))
    first = draw(population, 20261101, Fraction(3, 10))
    assert first == draw(list(reversed(population)), 20261101, Fraction(3, 10)), "the order given does not matter"
    assert len(first) == math.ceil(0.3 * 17) == 6
    assert set(first) <= set(population)
    assert any(draw(population, seed, Fraction(3, 10)) != first for seed in range(5)), "the seed decides"
    assert draw([], 7, Fraction(3, 10)) == []
    assert draw([5], 7, Fraction(3, 10)) == [5], "at least the ratio: one of one"


def test_P14_the_month_s_sample_is_stored_with_its_seed_and_verifies(flow: Flow, now: datetime) -> None:
    w = flow.world
    cases = [decided(flow, now, serial=n) for n in range(1, 5)]  # all decided 2026-10-14
    with flow.session() as s, pytest.raises(InvalidInput, match="has not ended"):
        draw_sample(s, env=flow.env, actor=w.county, county=COUNTY, month="2026-10", seed=1, now=now + 20 * DAY)
    after = now + 40 * DAY
    with flow.session() as s, pytest.raises(NotFound):
        draw_sample(s, env=flow.env, actor=w.boss, county=COUNTY, month="2026-10", seed=1, now=after)
    with flow.session() as s:
        sample = draw_sample(s, env=flow.env, actor=w.county, county=COUNTY, month="2026-10", seed=424242, now=after)
    assert sample.population == sorted(cases)
    assert sample.seed == 424242
    assert sample.ratio == "3/10"
    assert len(sample.drawn) == math.ceil(Fraction(3, 10) * 4) == 2
    assert sample.drawn == draw(cases, 424242, Fraction(3, 10))
    with flow.session() as s, pytest.raises(Conflict, match="already drawn"):
        draw_sample(s, env=flow.env, actor=w.county, county=COUNTY, month="2026-10", seed=None, now=after)
    with flow.session(write=False) as s:
        check = verify_sample(s, actor=w.inspector, sample_id=sample.id)
        seen = overview(s, actor=w.county, region=COUNTY, now=after)
        drawn_entry = s.exec(select(AuditEntry).where(AuditEntry.action == "county_sample_drawn")).one()
    assert check.same_draw
    assert check.same_population
    assert check.redrawn == sample.drawn
    assert sorted(v.application_id for v in seen.visits_due if v.reason == "sample") == sample.drawn
    assert [x.id for x in seen.samples] == [sample.id]
    assert '"seed":424242' in drawn_entry.data.replace(" ", "")
