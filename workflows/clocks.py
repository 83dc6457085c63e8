"""The clocks that run from acceptance (受理): the township's opinion (P6), the 特困 investigation (T3)
and the whole case (P9), counted on the official calendar from the submission. The time a case spends
in public notice is left out (办结时限不包括公示期限): each notice the case has left is kept in its file
(`notice_spans`), and the working days it covered are added to the clocks. The overall limit is
extended once, with a written reason, from `total` to `total_extended` (P9: 30 wd, 45 in special cases).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.calendar import Delay, Unit, WorkCalendar
from engine.definition import CaseView, GuardContext

NOTICE_PREFIX = "notice_"


def is_notice(state: str) -> bool:
    return state.startswith(NOTICE_PREFIX)


def accepted_at(data: Mapping[str, Any], created_at: datetime) -> datetime:
    """受理: the submission (recorded as `accepted_at`; older files by their `submitted` stamp)."""
    raw = data.get("accepted_at") or (data.get("submitted") or {}).get("at")
    return datetime.fromisoformat(str(raw)) if raw else created_at


def notice_left(ctx: GuardContext) -> Mapping[str, Any]:
    """The effect of leaving a notice (it ran out, or an objection stopped it): the span is kept."""
    span = {"state": ctx.case.state, "from": ctx.case.state_entered_at.isoformat(), "to": ctx.now.isoformat()}
    return {"notice_spans": [*(ctx.case.data.get("notice_spans") or []), span]}


def _spans(case: CaseView, now: datetime | None) -> Iterable[tuple[datetime, datetime]]:
    for span in case.data.get("notice_spans") or []:
        yield datetime.fromisoformat(str(span["from"])), datetime.fromisoformat(str(span["to"]))
    if now is not None and is_notice(case.state) and now > case.state_entered_at:
        yield case.state_entered_at, now  # the notice running now, so far


def paused_working_days(case: CaseView, calendar: WorkCalendar, now: datetime | None = None) -> int:
    """The working days the case's notices covered (and, given `now`, the running one so far)."""
    return sum(calendar.working_days_between(start, end) for start, end in _spans(case, now))


def from_acceptance(case: CaseView, calendar: WorkCalendar, delay: Delay, now: datetime | None = None) -> datetime:
    """When `delay` from acceptance runs out, its notices left out."""
    start = accepted_at(case.data, case.created_at)
    if delay.unit is Unit.WORKING_DAYS:
        return calendar.add_working_days(start, delay.amount + paused_working_days(case, calendar, now))
    paused = sum(((end - begin) for begin, end in _spans(case, now)), start - start)
    return calendar.due(start, delay) + paused


def extended(data: Mapping[str, Any]) -> bool:
    return bool(data.get("deadline_extension"))


@dataclass(frozen=True)
class Clock:
    """One deadline of a case as it is shown: which clock, when, and whether it may still move."""

    clock: str
    label: str
    due: datetime
    provisional: bool
    paused: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "label": self.label,
            "due": self.due.isoformat(),
            "provisional": self.provisional,
            "paused": self.paused,
        }


TOTAL_LABEL = "办结时限 / the whole case"
EXTENDED_LABEL = "办结时限（已延长）/ the whole case (extended)"


def total_delay(data: Mapping[str, Any], total: Delay, total_extended: Delay | None) -> Delay:
    return total_extended if extended(data) and total_extended is not None else total


def overall(case: CaseView, calendar: WorkCalendar, total: Delay, total_extended: Delay | None, now: datetime) -> Clock:
    """P9: the whole case's deadline, notices left out (paused while one runs)."""
    delay = total_delay(case.data, total, total_extended)
    due = from_acceptance(case, calendar, delay, now)
    start = accepted_at(case.data, case.created_at)
    return Clock(
        clock="total",
        label=EXTENDED_LABEL if extended(case.data) else TOTAL_LABEL,
        due=due,
        provisional=delay.unit is Unit.WORKING_DAYS and calendar.is_provisional_span(start, due),
        paused=is_notice(case.state),
    )
