"""The workflow the benchmark fires: shaped like a real review step (role, guard, effect, timer)."""

from __future__ import annotations

from collections.abc import Iterable

from engine.access import Role
from engine.calendar import Delay, Unit
from engine.definition import Deadline, GuardContext, Timer, WorkflowDefinition, transition, validate


def two_investigators(ctx: GuardContext) -> Iterable[str]:
    investigators = ctx.data.get("investigators")
    if not isinstance(investigators, list) or len(investigators) < 2:
        yield "入户调查须有两名以上调查人 / two or more investigators are required"


def proposed_amount(ctx: GuardContext) -> Iterable[str]:
    amount = ctx.data.get("proposed_monthly_fen")
    if not isinstance(amount, int) or amount <= 0:
        yield "须填写拟保障金额（分）/ proposed_monthly_fen must be a positive whole number of fen"


BENCH = validate(
    WorkflowDefinition(
        key="bench",
        version=1,
        states=("village_review", "notice", "township_review", "approved", "rejected"),
        initial="village_review",
        terminal=frozenset({"approved", "rejected"}),
        transitions=(
            transition(
                "village_pass",
                "village_review",
                "notice",
                by=[Role.VILLAGE_OFFICER],
                guards=[two_investigators, proposed_amount],
                effect=lambda ctx: {"proposed_monthly_fen": ctx.data["proposed_monthly_fen"]},
            ),
            transition("village_reject", "village_review", "rejected", by=[Role.VILLAGE_OFFICER]),
            transition("notice_ends", "notice", "township_review", by=[Role.SYSTEM]),
            transition("approve", "township_review", "approved", by=[Role.TOWNSHIP_OFFICER]),
        ),
        timers=(Timer("notice", "notice_ends", lambda case: Delay(7, Unit.DAYS)),),
        deadlines=(Deadline("township_review", lambda case: Delay(10, Unit.WORKING_DAYS)),),
    )
)

PASS_DATA = {"investigators": ["li", "zhao"], "visit_date": "2026-09-21", "proposed_monthly_fen": 70000}

# The county, township and village every benchmark's cases and raw rows belong to.
COUNTY, TOWNSHIP, VILLAGE = "341122000000", "341122100000", "341122100201"
