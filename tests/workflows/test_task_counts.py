"""The queue's counts from the kept counts (workflows.tasks.task_counts) equal the counts of judging every
case of the queue for the person (engine.queue.queue_counts with has_task), for every official, after
random acts: recusals, separation of duties across two accounts of one person, house visits by township
officials, objections."""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from engine.access import Actor, Grant, Role
from engine.authorize import available_actions
from engine.calendar import local_date
from engine.database import Database
from engine.errors import WorkflowError
from engine.queue import actionable_states, queue_counts
from engine.tables import Case
from tests.factories import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, make_user
from tests.workflows.support import (
    APPROVE,
    CIPHER,
    OFFICIAL_IDS,
    TEKUN_APPROVE,
    TOWNSHIP_PASS,
    Flow,
    World,
    household,
    make_env,
    make_world,
)
from tests.workflows.test_guards import _TOWNSHIP_INVESTIGATORS
from workflows.facts import same_person
from workflows.models import Notice
from workflows.objections import raise_objection
from workflows.tasks import has_task, task_counts

DAY = timedelta(days=1)
REASON = {"reason": "材料与实际不符 / the file does not match what was found"}


def _data(action: str, case: Case, rng: random.Random, now: datetime) -> dict[str, Any] | None:
    """Data an act of `action` can be fired with (its guards may still refuse it), or None to skip."""
    if action == "village_pass":
        names = rng.sample(["clerk", "clerk2", "boss", "boss3", "boss_v"], 2)
        visit = max(local_date(now) - DAY, local_date(case.created_at))
        return {"investigators": names, "visit_date": visit.isoformat(), "proposed_monthly_fen": 50_000}
    if action in ("village_reject", "township_reject", "return_to_village", "deny", "decline"):
        return dict(REASON)
    if action == "request_info":
        return {"missing": ["户口本 / household register"], "due": (local_date(now) + 10 * DAY).isoformat()}
    if action in ("provide_info", "submit", "refer_to_county"):
        return {}
    if action in ("township_pass",):
        return dict(TOWNSHIP_PASS)
    if action == "approve":
        return dict(TEKUN_APPROVE if case.data.get("aid_type") == "tekun" else APPROVE)
    if action in ("dismiss_objection", "uphold_objection"):
        return {"finding": "经核查 / investigated"}
    return None


def _people(flow: Flow) -> list[Actor]:
    """The cast, and two more accounts: boss's village-officer account, boss2's second township account."""
    w = flow.world
    with flow.db.session() as s:
        boss_v = make_user(
            s,
            "boss_v",
            role=Role.VILLAGE_OFFICER,
            region=VILLAGE,
            id_number_hash=CIPHER.lookup_hash(OFFICIAL_IDS["boss"]),
        )
        boss2_b = make_user(
            s,
            "boss2_b",
            role=Role.TOWNSHIP_OFFICER,
            region=TOWNSHIP,
            id_number_hash=CIPHER.lookup_hash(OFFICIAL_IDS["boss2"]),
        )
    return [w.clerk, w.clerk2, w.boss, w.boss2, w.boss3, w.county, w.far_clerk, w.far_boss, boss_v, boss2_b]


def _several_grants(world: World) -> list[Actor]:
    """boss holding a village grant inside their township too (grants that overlap: counted per village),
    and a second township's grant (grants apart: counted per grant). Compared, never acting."""
    boss = world.boss
    return [
        replace(boss, grants=(*boss.grants, Grant(Role.VILLAGE_OFFICER, VILLAGE))),
        replace(boss, grants=(*boss.grants, Grant(Role.TOWNSHIP_OFFICER, OTHER_TOWNSHIP))),
    ]


def _open(flow: Flow, rng: random.Random, serial: int, now: datetime, people: list[Actor]) -> None:
    aid = rng.choice(["dibao", "dibao", "dibao", "tekun", "emergency"])
    relatives = []
    if rng.random() < 0.3:  # a declared relative in office: that official is recused
        who = rng.choice(["clerk", "boss", "boss2", "boss3"])
        relatives = [{"name": "王亲属", "id_number": OFFICIAL_IDS[who], "relation": "配偶"}]
    filer = rng.choice([p for p in people if p.username in ("clerk", "clerk2", "boss_v")])
    try:
        case_id = flow.submit(household(serial=serial, aid_type=aid, relatives=relatives), now, actor=filer)
    except WorkflowError:
        return  # the filer was the recused one
    if aid != "emergency" and rng.random() < 0.8:
        flow.verify(case_id, now)


def _object(flow: Flow, rng: random.Random, now: datetime) -> None:
    with flow.db.session() as s:
        notices = s.exec(select(Notice).order_by(col(Notice.id).desc()).limit(5)).all()
        if not notices:
            return
        notice = rng.choice(notices)
        try:
            raise_objection(s, env=flow.env, notice_id=int(notice.id or 0), reason="有异议", contact=None, now=now)
        except WorkflowError:
            s.rollback()


def _act(flow: Flow, rng: random.Random, now: datetime, people: list[Actor]) -> None:
    with flow.db.session(write=False) as s:
        ids = list(s.exec(select(Case.id)).all())
    if not ids:
        return
    case = flow.case(int(rng.choice(ids) or 0))
    who = rng.choice(people)
    offered = available_actions(flow.env.definition_for(case), case, who)
    choices = [(a, d) for a in offered if (d := _data(a, case, rng, now)) is not None]
    if not choices:
        return
    action, data = rng.choice(choices)
    # refused or not: a recusal or separation of duties, a guard on the data, the state moved on
    with contextlib.suppress(WorkflowError):
        flow.act(int(case.id or 0), action, who, now, data)


def _offered(flow: Flow, case: Case, who: Actor) -> bool:
    """A queued act of the person's roles from the case's state, whoever the person is."""
    definition = flow.env.definition_for(case)
    tasks = {t.action for t in definition.available_from(case.state) if t.queued}
    return bool(tasks & set(available_actions(definition, case, who)))


def _assert_counts_agree(flow: Flow, people: list[Actor], now: datetime) -> tuple[int, int]:
    """Compared for everyone; how many tasks there were, and how many cases of the queues' states the
    guards that judge the person took out of them."""
    states = actionable_states(flow.env.definitions())
    total = dropped = 0
    with flow.db.session(write=False) as s:
        for who in people:
            same = same_person(s, who)
            slow = queue_counts(s, who, states, keep=lambda c, w=who, m=same: has_task(s, flow.env, c, w, now, same=m))
            fast = task_counts(s, flow.env, who, states, now)
            assert fast == slow, f"{who.username}: kept {fast} != judged {slow}"
            total += sum(slow.values())
            unjudged = queue_counts(s, who, states, keep=lambda c, w=who: _offered(flow, c, w))
            dropped += sum(unjudged.values()) - sum(slow.values())
    return total, dropped


def test_counts_from_the_kept_rows_equal_judging_every_case(db: Database, now: datetime) -> None:
    flow = Flow(db, make_env(_TOWNSHIP_INVESTIGATORS), make_world(db))
    people = _people(flow)
    rng = random.Random(20261128)
    moment = now
    for serial in range(1, 13):
        _open(flow, rng, serial, moment, people)
    counted = dropped = 0
    for step in range(1, 241):
        roll = rng.random()
        if roll < 0.06:
            _open(flow, rng, 100 + step, moment, people)
        elif roll < 0.12:
            _object(flow, rng, moment)
        elif roll < 0.2:
            moment += rng.randrange(1, 5) * DAY
            flow.sweep(moment)
        else:
            _act(flow, rng, moment, people)
        if step % 40 == 0:
            tasks, taken = _assert_counts_agree(flow, [*people, *_several_grants(flow.world)], moment)
            counted, dropped = counted + tasks, dropped + taken
    assert counted > 0, "the walk left no work in anyone's queue: nothing was compared"
    assert dropped > 0, "no case was taken out of a queue for the person: the subtraction was not exercised"
    with flow.db.session(write=False) as s:
        same = same_person(s, people[2])
    assert same == frozenset({"boss_v"})
