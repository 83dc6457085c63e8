"""The data an action takes: unknown keys and wrong types are refused before anything changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from engine.access import Role
from engine.errors import GuardRejected, InvalidInput, RoleNotPermitted
from engine.tables import AuditEntry
from tests.workflows.support import APPROVE, TOWNSHIP_PASS, VILLAGE_PASS, Flow, household, make_env
from workflows.acting import check_action_data
from workflows.schemas import ACTION_DATA

CALLERS = frozenset(Role) - {Role.SYSTEM, Role.PUBLIC}

# What the contract says each action takes at least; every key of it stays accepted.
CONTRACT: list[tuple[str, dict[str, Any]]] = [
    (
        "village_pass",
        {
            "investigators": ["clerk", "clerk2"],
            "visit_date": "2026-09-28",
            "appraisal": {"for": 9, "against": 3, "abstain": 1},
            "proposed_monthly_fen": 50_000,
        },
    ),
    ("township_pass", {"opinion": "经核查，收入和财产符合条件 / income and assets qualify"}),
    (
        "approve",
        {
            "monthly_amount_fen": 50_000,
            "mode": "household",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    ),
    (
        "approve",
        {
            "monthly_amount_fen": 70_000,
            "mode": "single_person",
            "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
        },
    ),
    ("village_reject", {"reason": "收入高于标准 / income above the standard"}),
    ("township_reject", {"reason": "收入高于标准 / income above the standard"}),
    ("deny", {"reason": "收入高于标准 / income above the standard"}),
    ("grant_emergency", {"amount_fen": 200_000}),
    ("grant_emergency", {"amount_fen": 200_000, "county_override": True}),
    ("dismiss_objection", {"finding": "经核查异议不实 / the objection was not borne out"}),
    ("uphold_objection", {"finding": "经核查异议属实 / the objection was borne out"}),
    ("request_info", {"missing": ["户口簿 / household register"], "due": "2026-10-20"}),
    ("complete_paperwork", {"note": "补齐签字盖章 / signatures added"}),
    ("adjust", {"monthly_amount_fen": 40_000, "reason": "收入增加 / income rose"}),
    ("record_county_visit", {"visit_date": "2026-10-13", "findings": "情况属实 / as declared"}),
    ("convert_to_standard", {"aid_type": "dibao"}),
    ("continue", {"note": "无变化 / no change"}),
]


def fired_by_callers() -> list[tuple[str, str]]:
    found = {
        (definition.key, t.action)
        for definition in make_env().definitions()
        for t in definition.transitions
        if t.roles & CALLERS
    }
    return sorted(found)


def audit_count(flow: Flow, case_id: int) -> int:
    with flow.session(write=False) as s:
        return len(s.exec(select(AuditEntry).where(AuditEntry.case_id == case_id)).all())


def refused_and_unchanged(flow: Flow, case_id: int, action: str, who: Any, now: datetime, data: dict[str, Any]) -> str:
    before = flow.case(case_id)
    entries = audit_count(flow, case_id)
    with pytest.raises(InvalidInput) as refused:
        flow.act(case_id, action, who, now, data)
    after = flow.case(case_id)
    assert (after.state, after.version, after.data) == (before.state, before.version, before.data)
    assert audit_count(flow, case_id) == entries
    return refused.value.detail


@pytest.mark.parametrize(("workflow", "action"), fired_by_callers())
def test_every_action_an_official_or_applicant_can_fire_declares_the_data_it_takes(workflow: str, action: str) -> None:
    assert action in ACTION_DATA, f"{workflow}: {action} has no model of its data"


@pytest.mark.parametrize(("action", "data"), CONTRACT)
def test_every_key_the_contract_names_is_still_accepted(action: str, data: dict[str, Any]) -> None:
    check_action_data(action, data)


def test_an_unknown_key_is_refused_at_village_review_and_nothing_changes(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    detail = refused_and_unchanged(
        flow, case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "surprise": 1}
    )
    assert detail == "操作数据中有未知字段 surprise / unknown field in the action's data: surprise"
    detail = refused_and_unchanged(
        flow, case_id, "village_reject", flow.world.boss, now, {"reason": "收入高", "note": "x", "extra": True}
    )
    assert "未知字段 extra, note" in detail
    assert detail.endswith("unknown field in the action's data: extra, note")
    nested = {**VILLAGE_PASS, "appraisal": {"for": 9, "against": 3, "abstain": 1, "absent": 2}}
    detail = refused_and_unchanged(flow, case_id, "village_pass", flow.world.clerk, now, nested)
    assert "appraisal.absent" in detail
    assert flow.state(case_id) == "village_review"


def test_an_action_that_takes_no_data_refuses_any(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(draft=True), now)
    detail = refused_and_unchanged(flow, case_id, "submit", flow.world.clerk, now, {"reason": "请审核"})
    assert "unknown field in the action's data: reason" in detail
    flow.act(case_id, "submit", flow.world.clerk, now)
    assert flow.state(case_id) == "village_review"


def test_unknown_keys_are_refused_at_the_township_and_in_the_emergency_channel(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    flow.sweep(now + timedelta(days=8))
    assert flow.state(case_id) == "township_review"
    detail = refused_and_unchanged(
        flow, case_id, "township_pass", flow.world.boss, now, {**TOWNSHIP_PASS, "monthly_amount_fen": 1}
    )
    assert "unknown field in the action's data: monthly_amount_fen" in detail
    emergency = flow.submit(household(aid_type="emergency", serial=2), now, actor=flow.world.boss)
    detail = refused_and_unchanged(
        flow, emergency, "grant_emergency", flow.world.boss, now, {"amount_fen": 1_000, "approved_by": "county"}
    )
    assert "unknown field in the action's data: approved_by" in detail


def test_a_value_of_the_wrong_type_is_refused_naming_its_key(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    detail = refused_and_unchanged(
        flow,
        case_id,
        "village_pass",
        flow.world.clerk,
        now,
        {**VILLAGE_PASS, "investigators": "clerk, clerk2", "visit_date": 20260928},
    )
    assert detail == (
        "操作数据中以下字段的类型或取值无效：investigators, visit_date / "
        "wrong type or value in the action's data: investigators, visit_date"
    )
    detail = refused_and_unchanged(
        flow, case_id, "village_pass", flow.world.clerk, now, {**VILLAGE_PASS, "proposed_monthly_fen": 500.5}
    )
    assert "proposed_monthly_fen" in detail
    detail = refused_and_unchanged(flow, case_id, "village_reject", flow.world.boss, now, {"reason": ["收入高"]})
    assert "wrong type or value in the action's data: reason" in detail
    detail = refused_and_unchanged(flow, case_id, "village_reject", flow.world.boss, now, {"reason": "长" * 2001})
    assert "reason" in detail


def test_the_emergency_override_must_be_a_real_boolean(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(aid_type="emergency"), now, actor=flow.world.boss)
    detail = refused_and_unchanged(
        flow, case_id, "grant_emergency", flow.world.boss, now, {"amount_fen": 1_000, "county_override": "yes"}
    )
    assert "county_override" in detail


def test_guards_still_give_their_own_reasons_when_a_key_is_missing(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(GuardRejected, match="write the reason"):
        flow.act(case_id, "village_reject", flow.world.boss, now, {})
    with pytest.raises(GuardRejected, match="proposed_monthly_fen"):
        flow.act(case_id, "village_pass", flow.world.clerk, now, {"investigators": ["clerk", "clerk2"]})


def test_a_role_that_may_not_act_is_told_so_before_its_data_is_judged(flow: Flow, now: datetime) -> None:
    case_id = flow.submit(household(), now)
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "approve", flow.world.clerk, now, {**APPROVE, "surprise": 1})
