"""Every guard refuses with a reason an official can act on; recusal and separation of duties."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest
from sqlmodel import select

from engine.access import SYSTEM, Actor, Grant, Role
from engine.database import Database
from engine.errors import GuardRejected, InvalidInput
from engine.runtime import record_refusal
from engine.tables import AuditEntry, Case
from tests.factories import TOWNSHIP, VILLAGE
from tests.guards_support import CLERK, case_view, default_rules, guard_context
from tests.guards_support import reasons as judged
from tests.workflows.support import (
    APPROVE,
    OFFICIAL_IDS,
    TOWNSHIP_PASS,
    VILLAGE_PASS,
    Flow,
    World,
    household,
    make_env,
)
from workflows.guards import applicant_or_filer, income_eligible, investigators, not_recused, not_township_passer
from workflows.notices import running_notices
from workflows.objections import raise_objection
from workflows.policy import Override
from workflows.reports import integrity_flags

# A county whose policy lets township and county officers sign a village's house visit (P3).
_TOWNSHIP_INVESTIGATORS = Override(
    "",
    date(2020, 1, 1),
    {"standard": {"investigator_roles": ["village_officer", "township_officer", "county_officer"]}},
)


def reasons(excinfo: pytest.ExceptionInfo[GuardRejected]) -> str:
    return " | ".join(excinfo.value.reasons)


def to_township_review(flow: Flow, now: datetime, case_id: int, passer: str = "clerk") -> None:
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", getattr(flow.world, passer), now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=7))


def to_approval(flow: Flow, now: datetime, case_id: int) -> None:
    to_township_review(flow, now, case_id)
    flow.act(case_id, "township_pass", flow.world.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.sweep(now + timedelta(days=15))


def test_a_member_with_an_invalid_identity_number_blocks_the_village_pass(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with flow.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        people = [dict(m) for m in case.data["members"]]
        good = flow.env.cipher.decrypt(people[1]["id_enc"])
        wrong = good[:17] + ("1" if good[17] != "1" else "2")  # the check character no longer fits
        people[1]["id_enc"] = flow.env.cipher.encrypt(wrong)
        case.data = {**case.data, "members": people}
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert "王家1 的身份证号码无效" in reasons(refused)


def test_the_household_needs_two_investigators(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "investigators": ["clerk", "clerk"]})
    assert "至少 2 名调查人员" in reasons(refused)
    assert "at least 2 investigators" in reasons(refused)


def test_income_above_the_standard_is_refused_with_the_figures(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(incomes=(140_002, 0)), now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert "700.01 元" in reasons(refused)
    assert "above the local standard" in reasons(refused)


def test_assets_over_the_rule_are_refused(flow: Flow, now: datetime) -> None:
    limit = 36 * 70_000 * 2
    case_id = flow.submit(household(assets_fen=limit + 1), now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert "household assets exceed the local rule" in reasons(refused)
    ok = flow.submit(household(serial=2, assets_fen=limit), now)
    flow.act(ok, "village_pass", flow.world.clerk, now, VILLAGE_PASS)


def test_the_appraisal_tally_needs_its_quorum_and_a_majority(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    few = {**VILLAGE_PASS, "appraisal": {"for": 10, "against": 1, "abstain": 0}}
    with pytest.raises(GuardRejected, match="不足法定 13 人"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, few)
    split = {**VILLAGE_PASS, "appraisal": {"for": 7, "against": 7, "abstain": 0}}
    with pytest.raises(GuardRejected, match="not enough to pass"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, split)
    partial = {**VILLAGE_PASS, "appraisal": {"for": 9}}
    with pytest.raises(GuardRejected, match="for, against, abstain"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, partial)
    garbled = {**VILLAGE_PASS, "appraisal": {"for": "many", "against": 0, "abstain": 0}}
    with pytest.raises(InvalidInput, match=r"appraisal\.for"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, garbled)
    flow.act(
        case_id,
        "village_pass",
        flow.world.clerk,
        now,
        {**VILLAGE_PASS, "appraisal": {"for": 8, "against": 6, "abstain": 1}},
    )
    assert flow.case(case_id).data["village_pass"]["appraisal"] == {"for": 8, "against": 6, "abstain": 1}


def test_village_pass_needs_a_visit_date_and_a_proposed_amount(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, {"investigators": ["clerk", "clerk2"]})
    text = reasons(refused)
    assert "visit_date" not in text or "house visit" in text
    assert "date of the house visit" in text
    assert "proposed_monthly_fen" in text


def test_a_declared_relative_in_office_must_recuse_and_the_trail_says_so(flow: Flow, now: datetime) -> None:
    relatives = [{"name": "张书记", "id_number": OFFICIAL_IDS["clerk"], "relation": "兄弟"}]
    case_id = flow.submit(household(relatives=relatives), now, actor=flow.world.clerk2)
    case = flow.case(case_id)
    assert case.data["filed_relative"] is True
    assert case.data["recused"] == ["clerk"]
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    assert "must recuse" in reasons(refused)
    with pytest.raises(GuardRejected, match="investigator clerk is related"):
        flow.act(case_id, "village_pass", flow.world.clerk2, now, VILLAGE_PASS)
    with flow.session(write=False) as s:
        recusals = s.exec(select(AuditEntry).where(AuditEntry.case_id == case_id, AuditEntry.action == "recusal")).all()  # type: ignore[arg-type]
        assert [r.data for r in recusals]
        assert '"official":"clerk"' in recusals[0].data.replace(" ", "")
        from workflows.reports import integrity_flags

        kinds = [(f.kind, f.official) for f in integrity_flags(s, actor=flow.world.inspector)]
        assert ("filed_relative", "clerk") in kinds


def test_a_relative_in_office_may_not_file_for_the_household_and_the_refusal_judges_the_person(
    flow: Flow, now: datetime
) -> None:
    relatives = [{"name": "张书记", "id_number": OFFICIAL_IDS["clerk"], "relation": "兄弟"}]
    with pytest.raises(GuardRejected, match="must recuse") as refused:
        flow.submit(household(relatives=relatives), now, actor=flow.world.clerk)
    assert refused.value.about_actor == refused.value.reasons
    assert refused.value.attempt is not None
    assert (refused.value.attempt.actor, refused.value.attempt.case_id) == ("clerk", None)
    with flow.session(write=False) as s:
        assert s.exec(select(Case)).all() == [], "nothing was filed"
    with flow.session() as s:  # as the request's unit of work does once the filing is rolled back
        assert record_refusal(s, refused.value, at=now)
    with flow.session(write=False) as s:
        report = [(f.kind, f.official, f.application_id) for f in integrity_flags(s, actor=flow.world.inspector)]
        assert report == [("refused_attempt", "clerk", None)]
        assert integrity_flags(s, actor=flow.world.far_boss) == [], "another township's officer does not see it"


def test_a_refusal_that_is_not_about_conflicts_of_interest_is_not_recorded(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now, actor=flow.world.clerk)
    with pytest.raises(GuardRejected) as refused:  # only the filer (or the household) may withdraw
        flow.act(case_id, "withdraw", flow.world.clerk2, now, {"reason": "撤回"})
    assert refused.value.about_actor == ()


def test_the_same_person_may_not_act_at_village_and_township(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    to_township_review(flow, now, case_id, passer="boss")  # the township may do the village review itself
    with pytest.raises(GuardRejected, match="another official must act at the township"):
        flow.act(case_id, "township_pass", w.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.act(case_id, "township_pass", w.boss2, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.sweep(now + timedelta(days=15))
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "approve", w.boss2, now + timedelta(days=16), APPROVE)
    assert "another official must decide it" in reasons(refused)
    with pytest.raises(GuardRejected, match="village review"):
        flow.act(case_id, "approve", w.boss, now + timedelta(days=16), APPROVE)
    flow.act(case_id, "approve", w.boss3, now + timedelta(days=16), APPROVE)
    assert flow.state(case_id) == "notice_final"


def test_an_investigator_of_the_house_visit_may_not_give_the_opinion_or_decide(
    db: Database, world: World, now: datetime
) -> None:
    """Where the policy lets township officers sign the house visit, one who did may not judge it after."""
    flow = Flow(db, make_env(_TOWNSHIP_INVESTIGATORS), world)
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, {**VILLAGE_PASS, "investigators": ["clerk", "boss"]})
    flow.sweep(now + timedelta(days=7))
    with pytest.raises(GuardRejected, match="visited the household"):
        flow.act(case_id, "township_pass", w.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.act(case_id, "township_pass", w.boss2, now + timedelta(days=8), TOWNSHIP_PASS)
    flow.sweep(now + timedelta(days=15))
    with pytest.raises(GuardRejected, match="visited the household"):
        flow.act(case_id, "approve", w.boss, now + timedelta(days=16), APPROVE)
    flow.act(case_id, "approve", w.boss3, now + timedelta(days=16), APPROVE)


def test_whoever_gave_the_opinion_on_any_round_may_not_decide(flow: Flow, now: datetime) -> None:
    """An upheld objection sends the case back for a second opinion; the first one still counts."""
    w = flow.world
    case_id = flow.submit(household(), now)
    to_township_review(flow, now, case_id)
    flow.act(case_id, "township_pass", w.boss, now + timedelta(days=8), TOWNSHIP_PASS)
    with flow.session() as s:
        notice_id = running_notices(s, env=flow.env, now=now + timedelta(days=9))[0].id
        raise_objection(
            s, env=flow.env, notice_id=notice_id, reason="收入不实", contact=None, now=now + timedelta(days=9)
        )
    flow.act(case_id, "uphold_objection", w.boss3, now + timedelta(days=10), {"finding": "需重新审核 / review again"})
    assert flow.state(case_id) == "township_review"
    flow.act(case_id, "township_pass", w.boss2, now + timedelta(days=11), TOWNSHIP_PASS)
    flow.sweep(now + timedelta(days=18))
    assert flow.state(case_id) == "township_approval"
    with pytest.raises(GuardRejected, match="another official must decide it"):
        flow.act(case_id, "approve", w.boss, now + timedelta(days=19), APPROVE)
    flow.act(case_id, "approve", w.boss3, now + timedelta(days=19), APPROVE)


def test_the_township_that_returned_a_case_does_not_redo_the_village_review(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    to_township_review(flow, now, case_id)
    flow.act(case_id, "return_to_village", w.boss, now + timedelta(days=8), {"reason": "重新调查"})
    with pytest.raises(GuardRejected, match="another official must act at the village"):
        flow.act(case_id, "village_pass", w.boss, now + timedelta(days=9), VILLAGE_PASS)


def test_approval_terms_are_checked(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    to_approval(flow, now, case_id)
    for bad, expected in [
        ({"monthly_amount_fen": 0}, "monthly_amount_fen"),
        ({"monthly_amount_fen": 140_001}, "standard times the household size"),
        ({"monthly_amount_fen": 1000, "mode": "both"}, "mode must be"),
        ({"monthly_amount_fen": 1000, "mode": "single_person"}, "severely disabled"),
    ]:
        with pytest.raises(GuardRejected, match=expected):
            flow.act(case_id, "approve", w.boss2, now + timedelta(days=16), bad)


def test_approval_is_the_countys_where_the_power_is_not_delegated(db: object, world: object, now: datetime) -> None:
    from engine.errors import RoleNotPermitted
    from tests.workflows.support import make_env
    from workflows.policy import Override

    assert isinstance(world, type(world))
    env = make_env(Override("", datetime(2020, 1, 1).date(), {"standard": {"approval_delegated_to_township": False}}))
    flow = Flow(db, env, world)  # type: ignore[arg-type]
    case_id = flow.submit(household(), now)
    to_approval(flow, now, case_id)
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "approve", flow.world.boss2, now + timedelta(days=16), APPROVE)
    flow.act(case_id, "approve", flow.world.county, now + timedelta(days=16), APPROVE)
    assert flow.state(case_id) == "notice_final"


def test_the_proposed_amount_at_the_village_is_capped_at_the_standard_times_the_household_size(
    flow: Flow, now: datetime
) -> None:
    case_id = flow.submit(household(), now)  # two members: at most 140,000 fen
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 140_001})
    assert "拟保障月金额" in reasons(refused)
    assert "exceeds the cap of 140000 fen" in reasons(refused)
    flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 140_000})
    assert flow.case(case_id).data["proposed_monthly_fen"] == 140_000


def test_investigators_who_are_not_officials_of_the_village_are_refused_by_name(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    made_up = {**VILLAGE_PASS, "investigators": ["clerk", "nobody_at_all"]}
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, now, made_up)
    assert "nobody_at_all" in reasons(refused)
    assert "pick them from the village's own officials" in reasons(refused)
    for outsider in ("far_clerk", "applicant", "inspector"):
        with pytest.raises(GuardRejected, match=outsider):
            flow.act(
                case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "investigators": ["clerk", outsider]}
            )
    # The township's and the county's officers sign only where the policy lists their roles.
    with pytest.raises(GuardRejected, match="boss"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "investigators": ["boss", "county"]})
    listed = Flow(flow.db, make_env(_TOWNSHIP_INVESTIGATORS), flow.world)
    listed.act(case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "investigators": ["boss", "county"]})
    assert flow.state(case_id) == "notice_village"


def test_an_inactive_official_may_not_sign_the_house_visit(flow: Flow, now: datetime) -> None:
    from engine.tables import User

    with flow.session() as s:
        user = s.exec(select(User).where(User.username == "clerk2")).one()
        user.active = False
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected, match="clerk2"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)


def test_a_made_up_name_cannot_stand_in_for_a_related_investigator(db: Database, world: World, now: datetime) -> None:
    flow = Flow(db, make_env(_TOWNSHIP_INVESTIGATORS), world)
    relatives = [{"name": "张书记", "id_number": OFFICIAL_IDS["clerk"], "relation": "兄弟"}]
    case_id = flow.submit(household(relatives=relatives), now, actor=flow.world.clerk2)
    with pytest.raises(GuardRejected) as refused:
        flow.act(
            case_id, "village_pass", flow.world.clerk2, now, {**VILLAGE_PASS, "investigators": ["clerk2", "ghost"]}
        )
    assert "ghost" in reasons(refused)
    with pytest.raises(GuardRejected, match="investigator clerk is related"):
        flow.act(
            case_id, "village_pass", flow.world.clerk2, now, {**VILLAGE_PASS, "investigators": ["clerk2", "clerk "]}
        )
    flow.act(case_id, "village_pass", flow.world.clerk2, now, {**VILLAGE_PASS, "investigators": ["clerk2", "boss"]})
    assert flow.state(case_id) == "notice_village"


def test_the_house_visit_is_dated_between_the_submission_and_today(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)  # submitted on 2026-09-28 (Shanghai)
    later = now + timedelta(days=3)
    with pytest.raises(GuardRejected) as refused:
        flow.act(case_id, "village_pass", flow.world.clerk, later, {**VILLAGE_PASS, "visit_date": "2026-09-27"})
    assert "before the application was submitted (2026-09-28)" in reasons(refused)
    with pytest.raises(GuardRejected, match="cannot be dated in the future"):
        flow.act(case_id, "village_pass", flow.world.clerk, later, {**VILLAGE_PASS, "visit_date": "2026-10-02"})
    flow.act(case_id, "village_pass", flow.world.clerk, later, {**VILLAGE_PASS, "visit_date": "2026-10-01"})
    assert flow.case(case_id).data["village_pass"]["visit_date"] == "2026-10-01"


def test_a_draft_is_visited_after_it_is_submitted_not_after_it_was_saved(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(draft=True), now)
    flow.act(case_id, "submit", flow.world.clerk, now + timedelta(days=2))
    with pytest.raises(GuardRejected, match="2026-09-30"):
        flow.act(case_id, "village_pass", flow.world.clerk, now + timedelta(days=2), VILLAGE_PASS)
    flow.act(
        case_id, "village_pass", flow.world.clerk, now + timedelta(days=2), {**VILLAGE_PASS, "visit_date": "2026-09-30"}
    )


# --------------------------------------------------------------------------- judged in memory
#
# A guard reads only its GuardContext: built by hand (tests.guards_support), it needs no database.


def test_P3_the_house_visit_needs_two_investigators_who_are_officials_of_the_village() -> None:
    known = {"investigator_hashes": {"clerk": None, "clerk2": None}, "submitted_on": date(2026, 10, 1)}
    alone = guard_context(data={"investigators": ["clerk", "clerk"], "visit_date": "2026-10-02"}, facts=known)
    assert any("至少 2 名调查人员" in r for r in judged(investigators, alone))
    stranger = guard_context(data={"investigators": ["clerk", "zhang"], "visit_date": "2026-10-02"}, facts=known)
    assert any("investigators zhang may not sign" in r for r in judged(investigators, stranger))
    two = guard_context(data={"investigators": ["clerk", "clerk2"], "visit_date": "2026-10-02"}, facts=known)
    assert judged(investigators, two) == []


def test_the_house_visit_cannot_be_dated_before_the_submission_or_after_today() -> None:
    facts = {"investigator_hashes": {"clerk": None, "clerk2": None}, "submitted_on": date(2026, 10, 1)}
    visit = {"investigators": ["clerk", "clerk2"]}
    early = guard_context(data={**visit, "visit_date": "2026-09-30"}, facts=facts)
    assert any("before the application was submitted (2026-10-01)" in r for r in judged(investigators, early))
    late = guard_context(data={**visit, "visit_date": "2026-10-13"}, facts=facts)
    assert any("cannot be dated in the future" in r for r in judged(investigators, late))


def test_E1_per_capita_income_at_the_standard_qualifies_by_default_and_above_it_is_refused() -> None:
    rules = default_rules()
    standard = rules.dibao_standard_fen
    at_standard = case_view(data={"members": [{"monthly_income_fen": standard}, {"monthly_income_fen": standard}]})
    assert judged(income_eligible, guard_context(case=at_standard)) == [], "方案9: 1倍(含)"
    above = case_view(data={"members": [{"monthly_income_fen": standard + 2}, {"monthly_income_fen": standard}]})
    assert any("高于当地低保标准" in r for r in judged(income_eligible, guard_context(case=above)))
    below = case_view(data={"members": [{"monthly_income_fen": 2 * standard - 1}, {"monthly_income_fen": 0}]})
    assert judged(income_eligible, guard_context(case=below)) == []


def test_E1_a_region_where_income_equal_to_the_standard_does_not_qualify_or_with_another_multiple() -> None:
    rules = default_rules()
    standard = rules.dibao_standard_fen
    at_standard = case_view(data={"members": [{"monthly_income_fen": standard}]})
    strict = replace(rules, income_equal_qualifies=False)
    assert any(
        "不低于当地低保标准" in r for r in judged(income_eligible, guard_context(case=at_standard, rules=strict))
    )
    lower = replace(rules, income_threshold_multiple=Fraction(9, 10))
    refused = judged(income_eligible, guard_context(case=at_standard, rules=lower))
    assert any("高于当地低保标准 700.00 元的0.9倍" in r for r in refused)


def test_a_declared_relative_in_office_must_recuse_but_another_official_and_the_system_may_act() -> None:
    case = case_view(data={"relatives_in_office": [{"id_hash": "h-relative"}]})
    relative = Actor(username="li", grants=CLERK.grants, id_number_hash="h-relative")
    assert any("须回避" in r for r in judged(not_recused, guard_context(case=case, actor=relative)))
    assert judged(not_recused, guard_context(case=case, actor=CLERK)) == []
    assert judged(not_recused, guard_context(case=case, actor=SYSTEM, role=Role.SYSTEM)) == []


def test_whoever_gave_the_township_opinion_may_not_approve() -> None:
    case = case_view(state="approval", data={"township_passers": ["boss2"]})
    boss2 = Actor(username="boss2", grants=(Grant(Role.TOWNSHIP_OFFICER, TOWNSHIP),))
    boss3 = Actor(username="boss3", grants=(Grant(Role.TOWNSHIP_OFFICER, TOWNSHIP),))
    ctx = guard_context(case=case, actor=boss2, role=Role.TOWNSHIP_OFFICER, action="approve")
    assert any("another official must decide it" in r for r in judged(not_township_passer, ctx))
    ctx = guard_context(case=case, actor=boss3, role=Role.TOWNSHIP_OFFICER, action="approve")
    assert judged(not_township_passer, ctx) == []


def test_only_the_applicant_or_the_official_who_filed_may_withdraw() -> None:
    case = case_view(applicant_user_id=7, created_by_user_id=2)
    applicant = Actor(username="wang", grants=(Grant(Role.APPLICANT, VILLAGE),), user_id=7)
    neighbour = Actor(username="zhao", grants=(Grant(Role.APPLICANT, VILLAGE),), user_id=8)
    assert judged(applicant_or_filer, guard_context(case=case, actor=applicant, role=Role.APPLICANT)) == []
    assert judged(applicant_or_filer, guard_context(case=case, actor=CLERK, action="withdraw")) == []
    refused = judged(applicant_or_filer, guard_context(case=case, actor=neighbour, role=Role.APPLICANT))
    assert any("only the applicant" in r for r in refused)
