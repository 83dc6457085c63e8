"""The notice board and objections: anyone, anonymous allowed, during any notice."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from engine.errors import GuardRejected, NotFound, RoleNotPermitted
from tests.workflows.support import VILLAGE_PASS, Flow, household
from workflows.casefile_view import case_details
from workflows.models import Notice, Objection
from workflows.notices import running_notices
from workflows.objections import objection_contact, raise_objection
from workflows.reports import overdue_flags

DAY = timedelta(days=1)

# For each notice stage: how to bring a case into it, and the review an upheld objection returns it to.
STAGES = {
    "notice_village": ("village_review", 0),
    "notice_township": ("township_review", 1),
    "notice_final": ("township_approval", 2),
}


def to_notice(flow: Flow, now: datetime, stage: str, serial: int = 1) -> tuple[int, datetime]:
    """A case in `stage`, and when that notice was posted."""
    posted = {"notice_village": now, "notice_township": now + 8 * DAY, "notice_final": now + 16 * DAY}[stage]
    return flow.to(stage, household(serial=serial), now), posted


def board(flow: Flow, at: datetime) -> list[dict[str, object]]:
    with flow.session(write=False) as s:
        return [n.model_dump() for n in running_notices(s, env=flow.env, now=at)]


def object_to(flow: Flow, notice_id: int, at: datetime, contact: str | None = None) -> str:
    with flow.session() as s:
        receipt = raise_objection(
            s, env=flow.env, notice_id=notice_id, reason="收入不实 / income untrue", contact=contact, now=at
        )
        return receipt.receipt_code


def test_the_board_shows_a_masked_name_and_nothing_personal(flow: Flow, now: datetime) -> None:
    payload = household()
    case_id, _ = to_notice(flow, now, "notice_village")
    shown = board(flow, now + DAY)
    assert len(shown) == 1
    notice = shown[0]
    assert notice["reference"] == flow.case(case_id).reference
    assert (notice["name"], notice["village"], notice["household_size"]) == ("王*英", "大庄村", 2)
    assert (notice["aid_type"], notice["amount_fen"]) == ("dibao", 50_000)
    assert (notice["stage"], notice["stage_label"]) == ("village", "初榜 / first notice")
    assert notice["ends"] == now + 7 * DAY
    for secret in (payload.applicant.id_number, "13800000000", "王小英"):
        assert secret not in str(shown)
    assert board(flow, now + 7 * DAY) == [], "a notice that has ended is not shown"


@pytest.mark.parametrize("stage", list(STAGES))
def test_an_objection_stops_the_clock_and_dismissing_it_posts_a_fresh_notice(
    flow: Flow, now: datetime, stage: str
) -> None:
    case_id, posted = to_notice(flow, now, stage)
    notice_id = int(board(flow, posted)[0]["id"])  # type: ignore[call-overload]
    object_to(flow, notice_id, posted + 2 * DAY)
    assert flow.state(case_id) == "objection_review"
    assert board(flow, posted + 2 * DAY) == []
    assert flow.sweep(posted + 30 * DAY).fired == 1, "the notice clock stopped; only the objection's clock ran out"
    late = flow.case(case_id)
    assert late.state == "objection_review", "nothing moves on by itself"
    assert [f["kind"] for f in late.data["flags"]] == ["objection_overdue"]
    with pytest.raises(GuardRejected, match="finding"):
        flow.act(case_id, "dismiss_objection", flow.world.boss3, posted + 30 * DAY, {})
    flow.act(
        case_id, "dismiss_objection", flow.world.boss3, posted + 30 * DAY, {"finding": "经核实收入属实 / verified"}
    )
    assert flow.state(case_id) == stage
    fresh = board(flow, posted + 30 * DAY)
    assert len(fresh) == 1
    assert fresh[0]["id"] != notice_id
    assert fresh[0]["ends"] == posted + 37 * DAY, "the fresh notice runs its full length again"
    assert flow.sweep(posted + 36 * DAY).fired == 0
    flow.sweep(posted + 37 * DAY)
    assert flow.state(case_id) != stage
    with flow.session(write=False) as s:
        found = s.exec(select(Objection).where(Objection.case_id == case_id)).one()  # type: ignore[arg-type]
        assert (found.outcome, found.decided_by) == ("dismissed", "boss3")


def test_T4_an_objection_is_decided_within_fifteen_working_days_or_the_breach_is_flagged(
    flow: Flow, now: datetime
) -> None:
    case_id, posted = to_notice(flow, now, "notice_township")  # posted 2026-10-06, in the National Day holiday
    object_to(flow, int(board(flow, posted)[0]["id"]), posted + DAY)  # type: ignore[call-overload]
    case = flow.case(case_id)
    assert case.deadline is not None, "the objection's clock shows on the case and orders the queue"
    assert flow.env.calendar.working_days_between(case.state_entered_at, case.deadline) == 15
    assert flow.sweep(case.deadline - timedelta(minutes=1)).fired == 0
    flow.sweep(case.deadline)
    late = flow.case(case_id)
    assert late.state == "objection_review"
    assert [f["kind"] for f in late.data["flags"]] == ["objection_overdue"]
    with flow.session(write=False) as s:
        flags = overdue_flags(s, actor=flow.world.inspector)
        assert [(f.application_id, f.kind) for f in flags] == [(case_id, "objection_overdue")]


@pytest.mark.parametrize(("stage", "review"), [(s, r) for s, (r, _) in STAGES.items()])
def test_an_upheld_objection_returns_the_case_to_the_review_before(
    flow: Flow, now: datetime, stage: str, review: str
) -> None:
    case_id, posted = to_notice(flow, now, stage)
    object_to(flow, int(board(flow, posted)[0]["id"]), posted + DAY)  # type: ignore[call-overload]
    flow.act(case_id, "uphold_objection", flow.world.boss3, posted + 2 * DAY, {"finding": "隐瞒收入 / hidden income"})
    case = flow.case(case_id)
    assert case.state == review
    assert case.data["objections"][0]["outcome"] == "upheld"


def test_only_the_township_decides_objections(flow: Flow, now: datetime) -> None:
    case_id, posted = to_notice(flow, now, "notice_village")
    object_to(flow, int(board(flow, posted)[0]["id"]), posted + DAY)  # type: ignore[call-overload]
    with pytest.raises(RoleNotPermitted):
        flow.act(case_id, "dismiss_objection", flow.world.clerk, posted + DAY, {"finding": "x"})


def test_an_objection_needs_a_running_notice(flow: Flow, now: datetime) -> None:
    case_id, posted = to_notice(flow, now, "notice_village")
    notice_id = int(board(flow, posted)[0]["id"])  # type: ignore[call-overload]
    for at in (posted - DAY, posted + 7 * DAY):
        with pytest.raises(NotFound):
            object_to(flow, notice_id, at)
    with pytest.raises(NotFound):
        object_to(flow, notice_id + 99, posted + DAY)
    flow.sweep(posted + 7 * DAY)
    with pytest.raises(NotFound):
        object_to(flow, notice_id, posted + 3 * DAY)
    assert flow.state(case_id) == "township_review"


def test_a_second_objection_joins_the_review_already_open(flow: Flow, now: datetime) -> None:
    case_id, posted = to_notice(flow, now, "notice_village")
    notice_id = int(board(flow, posted)[0]["id"])  # type: ignore[call-overload]
    first = object_to(flow, notice_id, posted + DAY)
    second = object_to(flow, notice_id, posted + 2 * DAY)
    assert first != second
    flow.act(case_id, "uphold_objection", flow.world.boss3, posted + 3 * DAY, {"finding": "属实"})
    with flow.session(write=False) as s:
        outcomes = [o.outcome for o in s.exec(select(Objection).where(Objection.case_id == case_id))]  # type: ignore[arg-type]
    assert outcomes == ["upheld", "upheld"]


def test_the_objectors_contact_is_encrypted_hidden_from_the_township_and_shown_to_inspectors(
    flow: Flow, now: datetime
) -> None:
    w = flow.world
    case_id, posted = to_notice(flow, now, "notice_village")
    object_to(flow, int(board(flow, posted)[0]["id"]), posted + DAY, contact="13912345678")  # type: ignore[call-overload]
    with flow.session() as s:
        stored = s.exec(select(Objection)).one()
        assert stored.contact_enc is not None
        assert "13912345678" not in stored.contact_enc
        case = flow.case(case_id)
        details = case_details(s, env=flow.env, case=case, reveal=True)
        assert "13912345678" not in str(details)
        assert details["objections"][0]["contact_given"] is True
        with pytest.raises(NotFound):
            objection_contact(s, env=flow.env, actor=w.boss, objection_id=stored.id or 0, now=now)
        assert (
            objection_contact(s, env=flow.env, actor=w.inspector, objection_id=stored.id or 0, now=now) == "13912345678"
        )


def test_P17_tekun_minors_are_not_posted(flow: Flow, now: datetime) -> None:
    minor = flow.submit(household(aid_type="tekun", born="20150101", incomes=(0,)), now)
    adult = flow.submit(household(aid_type="tekun", serial=2, born="19500101", incomes=(0,)), now)
    for case_id in (minor, adult):
        flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    shown = board(flow, now + DAY)
    assert [n["reference"] for n in shown] == [flow.case(adult).reference]
    with flow.session(write=False) as s:
        hidden = s.exec(select(Notice).where(Notice.case_id == minor)).one()  # type: ignore[arg-type]
        assert hidden.posted is False
    assert flow.state(minor) == "notice_village", "the stage still runs; only the public listing is withheld"


def test_the_board_names_each_stage_by_a_stable_name_with_its_label_beside_it(flow: Flow, now: datetime) -> None:
    expected = {
        "notice_village": ("village", "初榜 / first notice"),
        "notice_township": ("township", "二榜 / second notice"),
        "notice_final": ("final", "定榜 / final notice"),
    }
    for serial, (state, (name, label)) in enumerate(expected.items(), start=1):
        case_id, posted = to_notice(flow, now, state, serial=10 * serial)
        reference = flow.case(case_id).reference
        shown = [n for n in board(flow, posted + DAY) if n["reference"] == reference]
        assert [(n["stage"], n["stage_label"]) for n in shown] == [(name, label)], serial


def test_the_termination_notice_is_named_termination_on_the_board(flow: Flow, now: datetime) -> None:
    case_id, _ = to_notice(flow, now, "notice_final")
    flow.sweep(now + 23 * DAY)
    with flow.session() as s:
        from engine.tables import Case

        case = s.get(Case, case_id)
        assert case is not None
        case.data = {**case.data, "aid_type": "tekun"}
    at = now + 40 * DAY
    flow.act(
        case_id,
        "terminate",
        flow.world.boss,
        at,
        {"reason": "恢复劳动能力 / able to work again", "ground": "work_capacity"},
    )
    flow.act(case_id, "approve_termination", flow.world.county, at, {})
    shown = board(flow, at + DAY)
    assert [(n["stage"], n["stage_label"]) for n in shown] == [("termination", "终止公示 / termination notice")]


def test_a_one_character_name_is_shown_as_a_star(flow: Flow, now: datetime) -> None:
    payload = household()
    body = payload.model_dump()
    body["applicant"]["name"] = "王"
    body["members"][0]["name"] = "王"
    case_id = flow.submit(type(payload).model_validate(body), now)
    flow.act(case_id, "village_pass", flow.world.clerk, now, VILLAGE_PASS)
    shown = board(flow, now + DAY)
    assert [n["name"] for n in shown] == ["*"]
    with flow.session(write=False) as s:
        stored = s.exec(select(Notice).where(Notice.case_id == case_id)).one()
        assert stored.masked_name == "*"


def test_a_one_character_name_stored_unmasked_by_an_older_notice_is_still_hidden(flow: Flow, now: datetime) -> None:
    case_id, _ = to_notice(flow, now, "notice_village")
    with flow.session() as s:
        stored = s.exec(select(Notice).where(Notice.case_id == case_id)).one()
        stored.masked_name = "王"
    assert [n["name"] for n in board(flow, now + DAY)] == ["*"]
