"""authorize(): the one verdict on scope, role and state, handed to fire(); audit entries on a case that stays."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from engine import auditlog
from engine.access import Role
from engine.auditlog import verify_log
from engine.authorize import authorize
from engine.database import Database
from engine.definition import WorkflowDefinition, transition, validate
from engine.errors import InvalidInput, RoleNotPermitted, StaleVersion, TransitionNotAllowed
from engine.runtime import fire
from engine.tables import Case
from tests.cast import World
from tests.engine.support import CAL, act, entries, open_case, walk_to
from tests.engine.toy import TOY

# A second workflow that knows `certify`, which the toy does not: the township certifies there.
OTHER = validate(
    WorkflowDefinition(
        key="other",
        version=1,
        states=("open", "certified"),
        initial="open",
        terminal=frozenset({"certified"}),
        transitions=(transition("certify", "open", "certified", by=[Role.TOWNSHIP_OFFICER]),),
    )
)


def test_a_decision_names_the_rule_the_role_and_the_case_version_it_was_judged_on(
    db: Database, world: World, now: datetime
) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        walk_to(s, case, "decision", world, now)
        decision = authorize(TOY, case, world.boss, "approve")
        assert decision.rule is TOY.transition_from("decision", "approve")
        assert (decision.action, decision.role, decision.actor) == ("approve", Role.TOWNSHIP_OFFICER, world.boss)
        assert (decision.case_id, decision.version, decision.state) == (case.id, case.version, "decision")
        with pytest.raises(dataclasses.FrozenInstanceError):
            decision.role = Role.ADMIN  # type: ignore[misc]


def test_a_decision_made_before_the_case_moved_cannot_fire_it(db: Database, world: World, now: datetime) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        walk_to(s, case, "decision", world, now)
        judged = authorize(TOY, case, world.boss, "reject")
        act(s, case, "send_back", world.boss, now)
        act(s, case, "pass", world.clerk, now)
        act(s, case, "notice_ends", world.by("system"), now)
        assert case.state == "decision"
        with pytest.raises(StaleVersion) as refused:
            fire(
                s,
                case=case,
                definition=TOY,
                decision=judged,
                data={"reason": "x"},
                expected_version=case.version,
                now=now,
                calendar=CAL,
            )
        assert (refused.value.expected, refused.value.actual) == (judged.version, case.version)


def test_a_decision_on_one_case_cannot_fire_another(db: Database, world: World, now: datetime) -> None:
    with db.session() as s:
        first = open_case(s, world, now, reference="T-1")
        second = open_case(s, world, now, reference="T-2")
        decision = authorize(TOY, first, world.clerk, "submit")
        with pytest.raises(ValueError, match="cannot fire"):
            fire(
                s,
                case=second,
                definition=TOY,
                decision=decision,
                data={},
                expected_version=second.version,
                now=now,
                calendar=CAL,
            )
        assert second.state == "draft"


def test_an_action_of_another_workflow_is_409_to_a_role_that_fires_it_there_and_403_to_others(
    db: Database, world: World, now: datetime
) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        with pytest.raises(TransitionNotAllowed):
            authorize(TOY, case, world.boss, "certify", other_definitions=lambda: (OTHER,))
        with pytest.raises(RoleNotPermitted):
            authorize(TOY, case, world.clerk, "certify", other_definitions=lambda: (OTHER,))
        with pytest.raises(InvalidInput):
            authorize(TOY, case, world.boss, "certify")


def test_a_stale_version_is_told_before_the_state_but_after_the_role(db: Database, world: World, now: datetime) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        walk_to(s, case, "review", world, now)
        with pytest.raises(StaleVersion):
            authorize(TOY, case, world.boss, "approve", version=case.version - 1)
        with pytest.raises(RoleNotPermitted):
            authorize(TOY, case, world.inspector, "approve", version=case.version - 1)
        with pytest.raises(TransitionNotAllowed):
            authorize(TOY, case, world.boss, "approve", version=case.version)


def test_an_entry_about_a_case_that_stays_carries_its_region_and_state_and_keeps_the_chain(
    db: Database, world: World, now: datetime
) -> None:
    with db.session() as s:
        case = open_case(s, world, now)
        walk_to(s, case, "review", world, now)
        written = auditlog.record(
            s,
            case=case,
            actor_name=world.inspector.username,
            role=Role.INSPECTOR,
            action="view_case",
            data={"personal_data": "masked"},
            at=now,
        )
        last = entries(s)[-1]
        assert last.seq == written.seq
        assert (last.case_id, last.region_code) == (case.id, case.region_code)
        assert (last.from_state, last.to_state, last.actor, last.action) == (
            "review",
            "review",
            "inspector",
            "view_case",
        )
        assert s.get(Case, case.id) is case
        assert case.state == "review"
        assert verify_log(s).ok
