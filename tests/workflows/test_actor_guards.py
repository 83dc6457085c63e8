"""Guards that judge only who acts are marked, and give the same answer with no act data, so the
actions a caller may fire can be listed truthfully."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.access import Actor, Grant, Role
from engine.authorize import authorize, view
from engine.definition import GuardContext, WorkflowDefinition
from engine.errors import GuardRejected
from tests.factories import VILLAGE
from tests.workflows.support import APPROVE, TOWNSHIP_PASS, VILLAGE_PASS, Flow, household
from workflows import aidtypes, verification
from workflows import guards as g
from workflows.facts import actor_facts

DAY = timedelta(days=1)
ABOUT_THE_ACTOR = (
    g.not_recused,
    g.not_village_actor,
    g.not_township_actor,
    g.not_township_passer,
    g.not_challenged,
    g.applicant_or_filer,
    verification.recheck_by_township,
)


def about_actor(guard: Callable[..., Any]) -> bool:
    return bool(getattr(guard, "about_actor", False))


def actor_reasons(flow: Flow, case_id: int, action: str, who: Actor, now: datetime) -> list[str]:
    """What the guards marked as about the actor say, with empty act data and the listing's facts."""
    with flow.session(write=False) as s:
        from engine.tables import Case

        case = s.get(Case, case_id)
        assert case is not None
        definition: WorkflowDefinition = flow.env.definition_for(case)
        rule = definition.transition_from(case.state, action)
        assert rule is not None
        role = authorize(definition, case, who, action).role
        facts = actor_facts(s, env=flow.env, case=case, actor=who, now=now)
        ctx = GuardContext(case=view(case), actor=who, role=role, action=action, data={}, now=now, facts=facts)
        found: list[str] = []
        for guard in rule.guards:
            if about_actor(guard):
                found.extend(guard(ctx))
        return found


def test_the_guards_about_who_acts_are_marked_and_no_others() -> None:
    assert all(about_actor(guard) for guard in ABOUT_THE_ACTOR)
    others = (g.investigators, aidtypes.decision_terms, g.written_reason, g.emergency_grant, aidtypes.adjusted_amount)
    assert not any(about_actor(guard) for guard in others)


def test_every_marked_guard_in_the_definitions_is_one_about_who_acts(flow: Flow) -> None:
    marked: set[Callable[..., Iterable[str]]] = set()
    for definition in flow.env.definitions():
        for t in definition.transitions:
            marked |= {guard for guard in t.guards if about_actor(guard)}
    assert marked == set(ABOUT_THE_ACTOR)


def test_approve_is_listed_as_refused_to_whoever_gave_the_township_opinion(flow: Flow, now: datetime) -> None:
    w = flow.world
    case_id = flow.submit(household(), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)
    at = now + 16 * DAY
    for action in ("approve", "deny"):
        assert any("another official must decide it" in r for r in actor_reasons(flow, case_id, action, w.boss, at))
        assert actor_reasons(flow, case_id, action, w.boss2, at) == []
    with pytest.raises(GuardRejected, match="another official must decide it"):
        flow.act(case_id, "approve", w.boss, at, APPROVE)


def test_a_related_official_is_listed_as_recused_before_any_data_is_given(flow: Flow, now: datetime) -> None:
    from tests.workflows.support import OFFICIAL_IDS

    relatives = [{"name": "张书记", "id_number": OFFICIAL_IDS["clerk"], "relation": "兄弟"}]
    case_id = flow.submit(household(relatives=relatives), now, actor=flow.world.clerk2)
    assert any("must recuse" in r for r in actor_reasons(flow, case_id, "village_pass", flow.world.clerk, now))
    assert actor_reasons(flow, case_id, "village_pass", flow.world.clerk2, now) == []


def test_only_the_applicant_or_the_filer_is_listed_as_able_to_withdraw(flow: Flow, now: datetime) -> None:
    w = flow.world
    filed = flow.submit(household(), now)  # filed by clerk on the household's behalf
    assert actor_reasons(flow, filed, "withdraw", w.clerk, now) == []
    refused = actor_reasons(flow, filed, "withdraw", w.clerk2, now)
    assert refused
    assert "只有申请人或代为申请的工作人员可以撤回申请" in refused[0]
    assert actor_reasons(flow, filed, "withdraw", w.boss, now), "a township officer who did not file it"
    own = flow.submit(household(serial=2), now, actor=w.applicant)
    assert actor_reasons(flow, own, "withdraw", w.applicant, now) == []
    assert actor_reasons(flow, own, "withdraw", w.clerk, now), "an officer who did not file it"


def test_withdrawal_is_refused_to_an_applicant_role_that_is_not_the_cases_applicant(flow: Flow, now: datetime) -> None:
    """The guard itself checks who acts, not only the role it is handed."""
    w = flow.world
    case_id = flow.submit(household(), now)  # filed by clerk, no applicant account
    with flow.session(write=False) as s:
        from engine.tables import Case

        case = s.get(Case, case_id)
        assert case is not None
        stranger = Actor(username="neighbour", grants=(Grant(Role.APPLICANT, VILLAGE),), user_id=w.neighbour.user_id)
        ctx = GuardContext(
            case=view(case), actor=stranger, role=Role.APPLICANT, action="withdraw", data={}, now=now, facts={}
        )
        assert list(g.applicant_or_filer(ctx)), "an applicant of another household may not withdraw this one"
        nobody = Actor(username="ghost", grants=(Grant(Role.APPLICANT, VILLAGE),))
        assert list(g.applicant_or_filer(GuardContext(**{**ctx.__dict__, "actor": nobody})))


def test_marked_guards_work_without_any_facts(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with flow.session(write=False) as s:
        from engine.tables import Case

        case = s.get(Case, case_id)
        assert case is not None
        ctx = GuardContext(
            case=view(case), actor=flow.world.clerk, role=Role.VILLAGE_OFFICER, action="withdraw", data={}, now=now
        )
        for guard in ABOUT_THE_ACTOR:
            list(guard(ctx))
        assert list(g.applicant_or_filer(ctx)) == []
