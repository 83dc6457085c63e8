"""fire(): who may act, from where, on which version, and what is written together."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine.access import SYSTEM, Role
from engine.auditlog import verify_log
from engine.database import Database
from engine.definition import GuardContext, transition, validate
from engine.errors import GuardRejected, InvalidInput, NotFound, RoleNotPermitted, StaleVersion, TransitionNotAllowed
from engine.tables import AuditEntry, Case, TimerRow
from tests.cast import World
from tests.engine.support import CAL, act, count, entries, head, open_case, walk_to
from tests.engine.toy import TOY
from tests.factories import VILLAGE


def _case_id(
    db: Database, world: World, now: datetime, state: str = "draft", *, reference: str = "T-1", **data: object
) -> int:
    with db.session() as s:
        case = open_case(s, world, now, reference=reference, data=data)
        walk_to(s, case, state, world, now)
        assert case.id is not None
        return case.id


def _snapshot(db: Database, case_id: int) -> tuple[str, int, int, tuple[int, str], int]:
    """What a refused or rolled-back act must leave untouched."""
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.state, case.version, count(s, AuditEntry), head(s), count(s, TimerRow)


def test_a_role_that_may_never_fire_the_action_is_refused_as_not_permitted(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "decision")
    before = _snapshot(db, case_id)
    with db.session() as s, pytest.raises(RoleNotPermitted) as refused:
        act(s, s.get(Case, case_id), "approve", world.clerk, now, data={"amount_fen": 100})  # type: ignore[arg-type]
    assert refused.value.code == "role_not_permitted"
    assert "approve" in refused.value.detail
    assert _snapshot(db, case_id) == before


def test_an_inspector_in_scope_sees_the_case_but_may_fire_nothing(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "review")
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        for action in ("pass", "reject", "submit", "approve"):
            with pytest.raises(RoleNotPermitted):
                act(s, case, action, world.inspector, now, data={"reason": "x"})
        assert case.state == "review"


def test_an_action_that_exists_but_not_from_this_state_is_not_allowed(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "draft")
    before = _snapshot(db, case_id)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        with pytest.raises(TransitionNotAllowed) as refused:
            act(s, case, "pass", world.clerk, now)
        assert (refused.value.action, refused.value.state) == ("pass", "draft")
        # A role that may fire an act elsewhere in the workflow still hears 'not from this state'.
        with pytest.raises(TransitionNotAllowed):
            act(s, case, "approve", world.boss, now, data={"amount_fen": 1})
    assert _snapshot(db, case_id) == before


def test_a_stale_version_is_refused_and_names_both_versions(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "review")
    before = _snapshot(db, case_id)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.version == 2
        with pytest.raises(StaleVersion) as stale:
            act(s, case, "pass", world.clerk, now, version=1)
        assert (stale.value.case_id, stale.value.expected, stale.value.actual) == (case_id, 1, 2)
        with pytest.raises(StaleVersion):
            act(s, case, "pass", world.clerk, now, version=3)
    assert _snapshot(db, case_id) == before


def test_a_version_changed_in_the_database_behind_a_loaded_case_is_caught_by_the_update(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "review")
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        # Someone else's committed act, seen only by the database: the in-memory case still says 2.
        s.execute(Case.__table__.update().where(Case.__table__.c.id == case_id).values(version=7))  # type: ignore[attr-defined]
        with pytest.raises(StaleVersion) as stale:
            act(s, case, "pass", world.clerk, now, version=2)
        assert stale.value.actual == 7


def _documents(ctx: GuardContext) -> Iterable[str]:
    for name in ("income_proof", "household_register"):
        if name not in ctx.data.get("documents", []):
            yield f"缺少材料 {name} / {name} is missing"


def _two_investigators(ctx: GuardContext) -> Iterable[str]:
    if len(ctx.data.get("investigators", [])) < 2:
        yield "入户调查须两人以上 / two investigators are required"


GUARDED = validate(
    dataclasses.replace(
        TOY,
        key="toy_guarded",
        transitions=tuple(
            transition("pass", "review", "notice", by=[Role.VILLAGE_OFFICER], guards=[_documents, _two_investigators])
            if t.action == "pass"
            else t
            for t in TOY.transitions
        ),
    )
)


def test_a_guard_refusal_carries_every_reason_of_every_guard(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "review")
    before = _snapshot(db, case_id)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        with pytest.raises(GuardRejected) as refused:
            act(s, case, "pass", world.clerk, now, data={"investigators": ["li"]}, definition=GUARDED)
        assert refused.value.reasons == (
            "缺少材料 income_proof / income_proof is missing",
            "缺少材料 household_register / household_register is missing",
            "入户调查须两人以上 / two investigators are required",
        )
        assert all(reason in refused.value.detail for reason in refused.value.reasons)
        assert (refused.value.action, refused.value.state) == ("pass", "review")
    assert _snapshot(db, case_id) == before
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        data = {"investigators": ["li", "zhao"], "documents": ["income_proof", "household_register"]}
        assert act(s, case, "pass", world.clerk, now, data=data, definition=GUARDED).to_state == "notice"


def test_a_case_outside_the_actors_scope_is_not_found_whatever_the_act(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "decision")
    before = _snapshot(db, case_id)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        for outsider, action in (
            (world.far_clerk, "reject"),
            (world.far_boss, "approve"),
            (world.far_boss, "no_such_action"),
            (world.neighbour, "approve"),
        ):
            with pytest.raises(NotFound) as hidden:
                act(s, case, action, outsider, now, data={"amount_fen": 1, "reason": "x"})
            assert hidden.value.code == "not_found"
        # Out of scope is decided before the version: a stale outsider learns nothing either.
        with pytest.raises(NotFound):
            act(s, case, "approve", world.far_boss, now, data={"amount_fen": 1}, version=1)
    assert _snapshot(db, case_id) == before


def test_an_applicant_may_act_on_their_own_case_and_on_no_one_elses(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "draft")
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        with pytest.raises(NotFound):
            act(s, case, "submit", world.neighbour, now)
        record = act(s, case, "submit", world.applicant, now)
        assert (record.role, record.actor, record.to_state) == (Role.APPLICANT, "applicant", "review")
        # Owning the case grants the applicant's acts only, not an officer's.
        with pytest.raises(RoleNotPermitted):
            act(s, case, "pass", world.applicant, now)


def test_an_internal_transition_keeps_the_state_and_its_clock_but_is_versioned_and_audited(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "decision")
    later = now + timedelta(days=20)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        entered, deadline, entered_version = case.state_entered_at, case.deadline, case.entered_version
        timers = count(s, TimerRow)
        record = act(s, case, "flag_overdue", SYSTEM, later)
        assert (record.from_state, record.to_state, record.moved) == ("decision", "decision", False)
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.state == "decision"
        assert case.version == record.version == 5
        assert (case.state_entered_at, case.deadline, case.entered_version) == (entered, deadline, entered_version)
        assert case.updated_at == later
        assert count(s, TimerRow) == timers  # no new timers: the state was not entered again
        last = entries(s)[-1]
        assert (last.seq, last.action, last.from_state, last.to_state, last.actor, last.role) == (
            record.audit_seq,
            "flag_overdue",
            "decision",
            "decision",
            "system",
            Role.SYSTEM,
        )


def test_an_effect_merges_its_keys_into_the_data_and_the_audit_entry_records_them(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "decision", household=3, village="大庄村")
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        act(s, case, "approve", world.boss, now, data={"amount_fen": 70000, "note": "不入案"})
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.data == {"household": 3, "village": "大庄村", "amount_fen": 70000}
        assert case.state == "done"
        last = entries(s)[-1]
        assert '"set":{"amount_fen":70000}' in last.data
        assert '"note":"不入案"' in last.data


def test_state_version_timers_and_audit_entry_are_written_together(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "review")
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        seq_before, _ = head(s)
        record = act(s, case, "pass", world.clerk, now, data={"comment": "入户核实"})
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.state, case.version, case.entered_version, case.state_entered_at) == ("notice", 3, 3, now)
        timer = s.scalars(select(TimerRow).where(TimerRow.case_id == case_id)).one()
        assert (timer.action, timer.state, timer.entered_version) == ("notice_ends", "notice", 3)
        assert timer.due_at == now + timedelta(days=7)
        entry = s.get(AuditEntry, record.audit_seq)
        assert entry is not None
        assert record.audit_seq == seq_before + 1 == head(s)[0]
        assert (entry.case_id, entry.action, entry.from_state, entry.to_state, entry.actor, entry.role) == (
            case_id,
            "pass",
            "review",
            "notice",
            "clerk",
            Role.VILLAGE_OFFICER,
        )
        assert entry.at == now
        assert entry.due_at is None
        assert verify_log(s).ok


def test_an_error_after_fire_rolls_back_state_version_timers_and_audit_together(
    db: Database, world: World, now: datetime
) -> None:
    case_id = _case_id(db, world, now, "review")
    before = _snapshot(db, case_id)

    class Boom(Exception):
        pass

    def fire_then_fail() -> None:
        with db.session() as s:
            case = s.get(Case, case_id)
            assert case is not None
            record = act(s, case, "pass", world.clerk, now)
            assert record.to_state == "notice"
            assert case.state == "notice"
            assert count(s, TimerRow) == before[4] + 1  # written, inside the transaction
            raise Boom("the notification could not be queued")

    with pytest.raises(Boom, match="could not be queued"):
        fire_then_fail()
    assert _snapshot(db, case_id) == before
    with db.session(write=False) as s:
        assert verify_log(s).ok
    with db.session() as s:  # and the act can be done again, on the version the case still has
        case = s.get(Case, case_id)
        assert case is not None
        assert act(s, case, "pass", world.clerk, now, version=before[1]).audit_seq == before[3][0] + 1


def test_the_transition_record_describes_the_act_for_the_caller(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "decision")
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        record = act(s, case, "reject", world.boss, now, data={"reason": "收入超标"})
    assert (record.case_id, record.reference, record.workflow, record.region_code) == (case_id, "T-1", "toy", VILLAGE)
    assert (record.action, record.from_state, record.to_state, record.moved) == ("reject", "decision", "rejected", True)
    assert (record.actor, record.actor_user_id, record.role, record.at) == (
        "boss",
        world.boss.user_id,
        Role.TOWNSHIP_OFFICER,
        now,
    )
    assert record.version == 5
    assert dict(record.data) == {"reason": "收入超标"}
    assert record.due_at is None


def test_entering_a_state_with_a_deadline_sets_it_in_working_days(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "decision")
    with db.session(write=False) as s:
        case = s.get(Case, case_id)
        assert case is not None
        # Monday 2026-09-28 plus ten working days skips the National Day week: Friday 2026-10-16.
        assert case.deadline == CAL.add_working_days(now, 10)
        assert case.deadline is not None
        assert case.deadline.isoformat() == "2026-10-16T15:59:59+00:00"


def test_an_unknown_action_is_refused_as_invalid_input(db: Database, world: World, now: datetime) -> None:
    case_id = _case_id(db, world, now, "review")
    with db.session() as s, pytest.raises(InvalidInput, match="frobnicate"):
        act(s, s.get(Case, case_id), "frobnicate", world.clerk, now)  # type: ignore[arg-type]


def _back_to_asker(ctx: GuardContext) -> str:
    return str(ctx.case.data["asked_from"])


CHOOSING = validate(
    dataclasses.replace(
        TOY,
        key="toy_choosing",
        transitions=(
            *TOY.transitions,
            transition(
                "provide_info",
                "decision",
                None,
                by=[Role.APPLICANT],
                choose_dest=_back_to_asker,
                dests=("review", "notice"),
            ),
        ),
    )
)


def test_a_transition_that_chooses_its_destination_goes_where_its_rule_says(
    db: Database, world: World, now: datetime
) -> None:
    reached = []
    for asked_from in ("review", "notice"):
        case_id = _case_id(db, world, now, "decision", reference=f"T-{asked_from}", asked_from=asked_from)
        with db.session() as s:
            case = s.get(Case, case_id)
            assert case is not None
            record = act(s, case, "provide_info", world.applicant, now, definition=CHOOSING)
            reached.append((record.to_state, case.state, case.entered_version))
    assert reached == [("review", "review", 5), ("notice", "notice", 5)]


def test_an_effect_whose_data_the_definition_refuses_writes_nothing(db: Database, world: World, now: datetime) -> None:
    def refuse_amounts(data: object) -> None:
        if isinstance(data, dict) and "amount_fen" in data:
            raise InvalidInput("案卷记录有误 / the case file would not be valid: amount_fen")

    strict = dataclasses.replace(TOY, check_data=refuse_amounts)
    case_id = _case_id(db, world, now, "decision")
    before = _snapshot(db, case_id)
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        with pytest.raises(InvalidInput):
            act(s, case, "approve", world.boss, now, data={"amount_fen": 100}, definition=strict)
    assert _snapshot(db, case_id) == before
