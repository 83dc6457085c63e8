from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from engine.access import SYSTEM
from engine.auditlog import verify_log
from engine.authorize import authorize
from engine.calendar import WorkCalendar
from engine.database import Database
from engine.errors import GuardRejected, RoleNotPermitted, StaleVersion, TransitionNotAllowed
from engine.runtime import create_case, fire
from engine.tables import Case
from engine.timers import run_due
from tests.engine.toy import TOY
from tests.factories import TOWNSHIP, VILLAGE, make_regions, make_user

CAL = WorkCalendar()


def test_a_case_walks_the_toy_workflow_and_every_step_is_in_the_chain(db: Database, now: datetime) -> None:
    with db.session() as s:
        make_regions(s)
        clerk = make_user(s, "clerk", role="village_officer", region=VILLAGE)
        boss = make_user(s, "boss", role="township_officer", region=TOWNSHIP)
        case = create_case(
            s,
            definition=TOY,
            region_code=VILLAGE,
            reference="T-1",
            actor=clerk,
            role="village_officer",
            data={},
            now=now,
            calendar=CAL,
        )
        fire(
            s,
            case=case,
            definition=TOY,
            decision=authorize(TOY, case, clerk, "submit"),
            data={},
            expected_version=1,
            now=now,
            calendar=CAL,
        )
        fire(
            s,
            case=case,
            definition=TOY,
            decision=authorize(TOY, case, clerk, "pass"),
            data={},
            expected_version=2,
            now=now,
            calendar=CAL,
        )
        case_id = case.id
    swept = run_due(db.session, now=now + timedelta(days=8), resolve=lambda s, c: (TOY, CAL, {}))
    assert swept.fired == 1
    with db.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        assert case.state == "decision"
        with pytest.raises(RoleNotPermitted):
            fire(
                s,
                case=case,
                definition=TOY,
                decision=authorize(TOY, case, clerk, "approve"),
                data={"amount_fen": 1},
                expected_version=case.version,
                now=now,
                calendar=CAL,
            )
        with pytest.raises(GuardRejected, match="金额"):
            fire(
                s,
                case=case,
                definition=TOY,
                decision=authorize(TOY, case, boss, "approve"),
                data={"amount_fen": 0},
                expected_version=case.version,
                now=now,
                calendar=CAL,
            )
        with pytest.raises(StaleVersion):
            fire(
                s,
                case=case,
                definition=TOY,
                decision=authorize(TOY, case, boss, "approve"),
                data={"amount_fen": 5},
                expected_version=1,
                now=now,
                calendar=CAL,
            )
        with pytest.raises(TransitionNotAllowed):
            fire(
                s,
                case=case,
                definition=TOY,
                decision=authorize(TOY, case, clerk, "pass"),
                data={},
                expected_version=case.version,
                now=now,
                calendar=CAL,
            )
        record = fire(
            s,
            case=case,
            definition=TOY,
            decision=authorize(TOY, case, boss, "approve"),
            data={"amount_fen": 5},
            expected_version=case.version,
            now=now,
            calendar=CAL,
        )
        assert record.to_state == "done"
        assert case.data == {"amount_fen": 5}
        verdict = verify_log(s)
        assert verdict.ok, verdict
        assert verdict.entries == 5  # create, submit, pass, notice_ends (timer), approve
    assert SYSTEM.is_system
