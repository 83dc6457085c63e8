"""Definitions: valid at load, versioned by their spec, drawn, and kept by running cases."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from engine.database import Database
from engine.definition import WorkflowDefinition, validate
from engine.errors import DefinitionInvalid
from engine.machine import compiled
from tests.factories import OTHER_TOWNSHIP, OTHER_VILLAGE, TOWNSHIP
from tests.workflows.support import APPROVE, TOWNSHIP_PASS, VILLAGE_PASS, Flow, World, household, make_env
from workflows import registry
from workflows.policy import Override, Policy

ONE_NOTICE = Override(
    TOWNSHIP[:9],
    date(2020, 1, 1),
    {"standard": {"notice_stages": [{"name": "township", "label": "公示 / notice", "length": 7, "unit": "days"}]}},
)
REGISTRY = registry.definitions_of(Policy.load(None).with_overrides(ONE_NOTICE))


@pytest.mark.parametrize("definition", list(REGISTRY.values()), ids=lambda d: f"{d.key}-v{d.version}")
def test_every_definition_is_valid_and_drawn(definition: WorkflowDefinition) -> None:
    assert validate(definition) is definition
    diagram = compiled(definition).diagram_mermaid()
    assert diagram.startswith("stateDiagram-v2")
    for state in definition.states:
        assert state in diagram
    for t in definition.transitions:
        assert t.roles, t.action
        assert definition.label(t.destinations()[0] if t.destinations() else t.source[0])
    # a terminal state has no exit; only records (a delivery, a breach flag) may follow it
    assert all(t.internal for s in definition.terminal for t in definition.available_from(s))


def test_the_registry_holds_every_workflow_and_both_notice_shapes() -> None:
    keys = sorted((d.key, len([s for s in d.states if s.startswith("notice_")])) for d in REGISTRY.values())
    # the standard workflow twice per notice shape: 低保, and 特困 with its investigation clock (T3);
    # 支出型临时救助 with its one notice (K2)
    assert keys == [
        ("emergency", 1),
        ("standard", 2),
        ("standard", 2),
        ("standard", 4),
        ("standard", 4),
        ("temporary", 1),
    ]


def test_a_spec_always_yields_the_same_version() -> None:
    again = registry.definitions_of(Policy.load(None).with_overrides(ONE_NOTICE))
    assert sorted(again) == sorted(REGISTRY)


def test_a_bad_policy_is_refused_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[standard]\nnotice_stages = [{ name = "final", length = 7 }, { name = "village", length = 7 }]\n')
    with pytest.raises(DefinitionInvalid, match="in that order"):
        Policy.load(bad)
    bad.write_text("[emergency]\ntownship_limit_fen = -1\n")
    with pytest.raises(DefinitionInvalid, match="township_limit_fen"):
        Policy.load(bad)


def test_aidflow_policy_overrides_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[standard]\ndibao_standard_fen = 80000\n\n[[override]]\nregion = "341122101"\n'
        'effective_from = "2026-07-01"\n[override.standard]\ndibao_standard_fen = 90000\n'
    )
    from workflows.env import Env

    env = Env.load(str(path), "x" * 32)
    assert env.policy.rules(TOWNSHIP, date(2026, 9, 1)).dibao_standard_fen == 80_000
    assert env.policy.rules(OTHER_VILLAGE, date(2026, 6, 30)).dibao_standard_fen == 80_000
    assert env.policy.rules(OTHER_VILLAGE, date(2026, 7, 1)).dibao_standard_fen == 90_000
    assert env.policy.rules(TOWNSHIP, date(2026, 9, 1)).emergency_township_limit_fen == 300_000
    monkeypatch.setenv("AIDFLOW_POLICY", str(path))
    monkeypatch.setenv("AIDFLOW_SECRET_KEY", "y" * 32)
    assert os.environ["AIDFLOW_POLICY"] == str(path)


def test_a_one_notice_region_runs_by_policy_alone(db: Database, world: World, now: datetime) -> None:
    flow = Flow(db, make_env(ONE_NOTICE), world)
    w = world
    case_id = flow.submit(household(), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    assert flow.state(case_id) == "township_review", "no first notice in this region"
    flow.act(case_id, "township_pass", w.boss, now + timedelta(days=1), TOWNSHIP_PASS)
    assert flow.state(case_id) == "notice_township"
    flow.sweep(now + timedelta(days=8))
    assert flow.state(case_id) == "township_approval"
    flow.act(case_id, "approve", w.boss2, now + timedelta(days=9), APPROVE)
    case = flow.case(case_id)
    assert case.state == "active", "no final notice: active on approval"
    assert case.data["activated_at"] == (now + timedelta(days=9)).isoformat()
    other = flow.case(flow.submit(household(village=OTHER_VILLAGE, serial=2), now, actor=w.far_clerk))
    assert "notice_village" in flow.env.definition_for(other).states, "the other township keeps 三榜"
    assert OTHER_TOWNSHIP != TOWNSHIP


def test_a_running_case_keeps_its_version_when_the_policy_changes(db: Database, world: World, now: datetime) -> None:
    before = Flow(db, make_env(), world)
    case_id = before.submit(household(), now)
    started = before.case(case_id)
    after = Flow(db, make_env(ONE_NOTICE), world)
    registry._built.clear()  # a fresh process that has only the new policy
    assert after.env.definition_for(started).version == started.workflow_version
    after.act(case_id, "village_pass", world.clerk, now, VILLAGE_PASS)
    assert after.state(case_id) == "notice_village", "the old three-notice version still runs this case"
    fresh = after.case(after.submit(household(serial=2), now))
    assert fresh.workflow_version != started.workflow_version
