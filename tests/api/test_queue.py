"""The work queue: only work the official can do now, dated work soonest first, undated work last,
counts of the queue itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from api import services
from api.services import QueueFilter
from engine.access import Actor
from engine.calendar import local_date
from engine.database import Database
from tests.factories import OTHER_VILLAGE, VILLAGE
from tests.workflows.support import TOWNSHIP_PASS, VILLAGE_PASS, Flow, household, make_env, make_world

DAY = timedelta(days=1)


def _flow(db: Database) -> Flow:
    return Flow(db, make_env(), make_world(db))


def _queue(flow: Flow, who: Actor, now: datetime, only: QueueFilter = QueueFilter()) -> services.QueueOut:
    with flow.db.session(write=False) as s:
        return services.queue(s, flow.env, who, limit=50, cursor=None, now=now, only=only)


def test_running_support_is_no_ones_task_until_its_review_starts(db: Database, now: datetime) -> None:
    flow = _flow(db)
    case_id = flow.to_active(household(), now)
    later = now + 30 * DAY
    queue = _queue(flow, flow.world.boss, later)
    assert case_id not in [i.id for i in queue.items], "an active case whose review is months away is not work"
    assert "active" not in queue.counts
    flow.sweep(now + 800 * DAY)  # the periodic review's timer brings it to the township
    assert flow.state(case_id) == "under_review"
    queue = _queue(flow, flow.world.boss, now + 800 * DAY)
    assert case_id in [i.id for i in queue.items]
    assert queue.counts["under_review"] == 1


def test_dated_work_comes_first_soonest_first_and_undated_work_last(db: Database, now: datetime) -> None:
    flow = _flow(db)
    w = flow.world
    undated = flow.to_active(household(serial=1), now)
    flow.sweep(now + 800 * DAY)  # under_review: township work with no deadline
    at = now + 801 * DAY
    visit = {**VILLAGE_PASS, "visit_date": local_date(at).isoformat()}
    sooner = flow.submit(household(serial=3), at - DAY)
    flow.act(sooner, "village_pass", w.clerk, at - DAY, {**visit, "visit_date": local_date(at - DAY).isoformat()})
    later = flow.submit(household(serial=2), at)
    flow.act(later, "village_pass", w.clerk, at, visit)
    flow.sweep(at + 8 * DAY)  # both first notices end: township_review, each with its own deadline
    items = _queue(flow, w.boss, at + 8 * DAY).items
    assert [i.id for i in items] == [sooner, later, undated]
    assert [i.deadline is None for i in items] == [False, False, True]
    assert items[0].deadline is not None
    assert items[1].deadline is not None
    assert items[0].deadline < items[1].deadline


def test_the_counts_are_of_the_callers_queue_not_of_everything_in_scope(db: Database, now: datetime) -> None:
    flow = _flow(db)
    w = flow.world
    flow.to_active(household(serial=1), now)  # in scope, not work
    case_id = flow.submit(household(serial=2), now)
    flow.verify(case_id, now)
    flow.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
    flow.sweep(now + 7 * DAY)
    flow.act(case_id, "township_pass", w.boss, now + 8 * DAY, TOWNSHIP_PASS)
    flow.sweep(now + 15 * DAY)  # township_approval: boss gave the opinion, so another must decide
    moment = now + 15 * DAY
    mine = _queue(flow, w.boss, moment)
    theirs = _queue(flow, w.boss2, moment)
    assert mine.counts == {}
    assert mine.items == []
    assert theirs.counts == {"township_approval": 1}
    assert [i.id for i in theirs.items] == [case_id]


def test_the_queue_narrows_to_a_village_a_stage_and_an_aid_type(db: Database, now: datetime) -> None:
    flow = _flow(db)
    w = flow.world
    here = flow.submit(household(serial=1), now)
    tekun = flow.submit(household(serial=2, aid_type="tekun", severe_disability=True, incomes=(0,)), now)
    there = flow.submit(household(serial=3, village=OTHER_VILLAGE), now, actor=w.far_clerk)
    boss_county = w.county

    def ids(only: QueueFilter) -> list[int]:
        return [i.id for i in _queue(flow, w.boss, now, only).items]

    # The 特困 investigation is due within 15 working days (T3): dated work comes before undated.
    assert ids(QueueFilter()) == [tekun, here]
    assert ids(QueueFilter(village=VILLAGE)) == [tekun, here]
    assert ids(QueueFilter(village=OTHER_VILLAGE)) == [], "a village outside the caller's scope lists nothing"
    assert ids(QueueFilter(aid_type="tekun")) == [tekun]
    assert ids(QueueFilter(state="township_review")) == []
    assert _queue(flow, w.boss, now, QueueFilter(aid_type="tekun")).counts == {"village_review": 2}
    assert there not in [i.id for i in _queue(flow, boss_county, now).items]
