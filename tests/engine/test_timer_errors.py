from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, select

from engine.calendar import WorkCalendar
from engine.database import Database
from engine.runtime import TransitionRecord
from engine.tables import Case, TimerRow
from engine.timers import run_due
from tests.engine.toy import TOY, case_on_notice
from tests.factories import VILLAGE, make_regions, make_user

CAL = WorkCalendar()


def test_a_timer_that_fails_unexpectedly_stays_due_and_does_not_hold_up_the_rest(
    db: Database, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    with db.session() as s:
        make_regions(s)
        clerk = make_user(s, "clerk", role="village_officer", region=VILLAGE)
        # the first case's notice ends first
        ids = [case_on_notice(s, clerk=clerk, reference=f"E-{i}", at=now + timedelta(hours=i)).id for i in range(2)]

    def listener(session: Session, record: TransitionRecord) -> None:
        if record.case_id == ids[0]:
            raise RuntimeError("mail template missing")

    result = run_due(db.session, now=now + timedelta(days=8), resolve=lambda s, c: (TOY, CAL, {}), on_fired=listener)
    assert (result.fired, result.errors) == (1, 1)
    assert "mail template missing" in caplog.text
    with db.session(write=False) as s:
        first, second = (s.get(Case, i) for i in ids)
        assert first is not None and second is not None  # noqa: PT018
        assert (first.state, second.state) == ("notice", "decision")
        stuck = s.exec(select(TimerRow).where(TimerRow.case_id == ids[0])).one()
        assert stuck.fired_at is None
        assert (stuck.outcome or "").startswith("error (will retry): RuntimeError")
    # once the fault is gone, the next sweep fires it
    again = run_due(db.session, now=now + timedelta(days=8), resolve=lambda s, c: (TOY, CAL, {}))
    assert again.fired == 1
