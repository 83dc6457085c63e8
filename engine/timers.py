"""The timer sweep: each due timer fired once, as the system, in a transaction of its own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from engine.access import SYSTEM
from engine.authorize import authorize
from engine.calendar import WorkCalendar
from engine.caserow import get_case
from engine.definition import WorkflowDefinition
from engine.errors import GuardRejected, StaleVersion
from engine.runtime import TransitionRecord, fire
from engine.tables import Case, TimerRow, utcnow

_log = logging.getLogger("aidflow.timers")
_timers = TimerRow.__table__  # type: ignore[attr-defined]


@dataclass
class SweepResult:
    fired: int = 0
    void: int = 0
    refused: int = 0
    retried: int = 0
    errors: int = 0
    records: list[TransitionRecord] = field(default_factory=list)


Resolver = Callable[[Session, Case], tuple[WorkflowDefinition, WorkCalendar, Mapping[str, Any]]]
Listener = Callable[[Session, TransitionRecord], None]


def run_due(
    session_factory: Callable[[], Any],
    *,
    now: datetime,
    resolve: Resolver,
    on_fired: Listener | None = None,
    limit: int | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SweepResult:
    """Fire every timer due by `now`, in due order, each once, one transaction per timer.

    A timer whose case has since left the state it was set for is void. On PostgreSQL each
    timer row is claimed with FOR UPDATE SKIP LOCKED, so sweepers running at once share the work.
    """
    result = SweepResult()
    skipped: set[int] = set()
    while limit is None or result.fired + result.void + result.refused < limit:
        with session_factory() as session:
            query = (
                select(TimerRow)
                .where(_timers.c.fired_at.is_(None), _timers.c.due_at <= now)
                .order_by(_timers.c.due_at, _timers.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if skipped:
                query = query.where(_timers.c.id.not_in(skipped))
            timer = session.scalars(query).first()
            if timer is None:
                return result
            wall = clock()
            case = get_case(session, timer.case_id)
            assert case is not None
            if case.state != timer.state or case.entered_version != timer.entered_version:
                timer.fired_at, timer.outcome = wall, "void: the case has left the state"
                result.void += 1
                continue
            definition, calendar, facts = resolve(session, case)
            try:
                with session.begin_nested():
                    decision = authorize(definition, case, SYSTEM, timer.action)
                    record = fire(
                        session,
                        case=case,
                        definition=definition,
                        decision=decision,
                        data={},
                        expected_version=case.version,
                        now=timer.due_at,
                        calendar=calendar,
                        facts=facts,
                        due_at=timer.due_at,
                        recorded_at=wall,
                        audit_extra={
                            "timer": {
                                "id": timer.id,
                                "due": timer.due_at,
                                "swept_until": now,
                                "late": wall > timer.due_at,
                            }
                        },
                    )
                    if on_fired is not None:
                        on_fired(session, record)
            except StaleVersion:
                result.retried += 1
                assert timer.id is not None
                skipped.add(timer.id)
                continue
            except GuardRejected as refused:
                timer.fired_at, timer.outcome = wall, f"refused: {refused.detail}"[:500]
                result.refused += 1
                continue
            except Exception as exc:  # one broken timer must not hold up every timer due after it
                _log.exception("timer %s on case %s failed; it stays due and is tried again", timer.id, case.id)
                timer.outcome = f"error (will retry): {type(exc).__name__}: {exc}"[:500]
                result.errors += 1
                assert timer.id is not None
                skipped.add(timer.id)
                continue
            timer.fired_at, timer.outcome = wall, "fired"
            result.fired += 1
            result.records.append(record)
    return result
