"""A small workflow used by the engine's own tests (the engine knows nothing of aid)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session

from engine.access import Actor, Role
from engine.authorize import authorize
from engine.calendar import Delay, Unit, WorkCalendar
from engine.definition import Deadline, GuardContext, Timer, WorkflowDefinition, transition, validate
from engine.runtime import create_case, fire
from engine.tables import Case

VILLAGE = "341122100201"  # the village of tests.factories


def needs_reason(ctx: GuardContext) -> Iterable[str]:
    if not str(ctx.data.get("reason", "")).strip():
        yield "请写明理由 / a reason is required"


def amount_positive(ctx: GuardContext) -> Iterable[str]:
    amount = ctx.data.get("amount_fen")
    if not isinstance(amount, int) or amount <= 0:
        yield "金额须为正整数（分）/ amount_fen must be a positive whole number of fen"


TOY = validate(
    WorkflowDefinition(
        key="toy",
        version=1,
        states=("draft", "review", "notice", "decision", "done", "rejected"),
        initial="draft",
        terminal=frozenset({"done", "rejected"}),
        transitions=(
            transition("submit", "draft", "review", by=[Role.APPLICANT, Role.VILLAGE_OFFICER]),
            transition("pass", "review", "notice", by=[Role.VILLAGE_OFFICER]),
            transition(
                "reject",
                ("review", "decision"),
                "rejected",
                by=[Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER],
                guards=[needs_reason],
            ),
            transition("notice_ends", "notice", "decision", by=[Role.SYSTEM]),
            transition("flag_overdue", "decision", None, by=[Role.SYSTEM]),
            transition("send_back", "decision", "review", by=[Role.TOWNSHIP_OFFICER]),
            transition(
                "approve",
                "decision",
                "done",
                by=[Role.TOWNSHIP_OFFICER],
                guards=[amount_positive],
                effect=lambda ctx: {"amount_fen": ctx.data["amount_fen"]},
            ),
        ),
        timers=(
            Timer("notice", "notice_ends", lambda case: Delay(7, Unit.DAYS)),
            Timer("decision", "flag_overdue", lambda case: Delay(10, Unit.WORKING_DAYS)),
        ),
        deadlines=(Deadline("decision", lambda case: Delay(10, Unit.WORKING_DAYS)),),
    )
)


def case_on_notice(session: Session, *, clerk: Actor, reference: str, at: datetime) -> Case:
    """A toy case created, submitted and passed by `clerk` at `at`: it is on its 7-day notice."""
    calendar = WorkCalendar()
    case = create_case(
        session,
        definition=TOY,
        region_code=VILLAGE,
        reference=reference,
        actor=clerk,
        role="village_officer",
        data={},
        now=at,
        calendar=calendar,
    )
    for action in ("submit", "pass"):
        fire(
            session,
            case=case,
            definition=TOY,
            decision=authorize(TOY, case, clerk, action),
            data={},
            expected_version=case.version,
            now=at,
            calendar=calendar,
        )
    return case
