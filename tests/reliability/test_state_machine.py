"""Property-based runs of each workflow (standard 低保 and 特困, emergency, temporary): hypothesis draws
officials of the right and wrong regions, declared relatives, the applicant, acts with valid-ish and invalid
data, objections on running notices, timer sweeps at a moving clock, clock jumps, payment runs and fund
deposits. After every step:

- no case reaches its decision (active, granted, closed) without every notice stage of its spec closed
  by its timer once the notice had run its time, and every review done by a permitted role, none of
  them a declared relative, the township's opinion and the approval by two people;
- no payment line without a decision in force;
- no reserve fund below zero;
- a refused act changes nothing (case, audit trail, fund, notices, timers) but its own `refused` entry
  where the refusal judged the person;
- the audit chain verifies and the live state matches it (workflows.oversight.live.verify_live).

Each example runs on a database of its own, copied from the session's migrated template.
AIDFLOW_PROPERTY_EXAMPLES and AIDFLOW_PROPERTY_STEPS scale the runs (per workflow and database);
AIDFLOW_PROPERTY_SHRINK=0 reports a failing run as found, without shrinking it."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func
from sqlmodel import select

from engine.access import SYSTEM, Actor
from engine.auditlog import verify_log
from engine.calendar import SHANGHAI
from engine.database import Database
from engine.errors import GuardRejected, WorkflowError
from engine.runtime import record_refusal
from engine.tables import AuditEntry, Case, TimerRow
from engine.timers import run_due
from tests.conftest import BACKEND, PG_BASE, _pg_admin
from tests.tally import record
from tests.workflows.support import (
    APPROVE,
    OFFICIAL_IDS,
    TEKUN_APPROVE,
    TOWNSHIP_PASS,
    Flow,
    household,
    make_env,
    make_world,
)
from workflows.fund import deposit_fund
from workflows.models import Fund, Notice, PaymentLine
from workflows.objections import raise_objection
from workflows.oversight.live import verify_live
from workflows.payments import month_of, run_payments
from workflows.registry import definition_for
from workflows.review import TERMINATION_GROUNDS

# CI's bounded run: 200 examples in all, 40 per workflow on SQLite and 10 on PostgreSQL (where a database
# per example costs a CREATE DATABASE); `make soak` sets 250 on each.
EXAMPLES = int(os.environ.get("AIDFLOW_PROPERTY_EXAMPLES", "10" if BACKEND == "postgres" else "40"))
STEPS = int(os.environ.get("AIDFLOW_PROPERTY_STEPS", "30"))
START = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai

OFFICIALS = ("clerk", "clerk2", "boss", "boss2", "boss3", "county", "inspector", "far_clerk", "far_boss")
PEOPLE = (*OFFICIALS, "applicant", "neighbour")
# The officials a household may declare as a relative in office (those with an identity number on file).
RELATABLE = tuple(OFFICIAL_IDS)
INVESTIGATORS = ("clerk", "clerk2", "boss", "boss3", "far_clerk", "ghost")
# What a decision needs, per workflow: the state it puts in force, and the notice stages run before it.
DECIDED = {"standard": "active", "temporary": "granted", "emergency": "closed"}
NOTICES = {
    "standard": ("notice_village", "notice_township", "notice_final"),
    "temporary": ("notice_temporary",),
    "emergency": ("notice_post",),
}
# The reviews before a decision, and the roles allowed to give them.
REVIEWS = {
    "village_pass": {"village_officer", "township_officer"},
    "township_pass": {"township_officer"},
    "approve": {"township_officer"},
    "grant_temporary": {"township_officer", "county_officer"},
    "grant_emergency": {"township_officer", "county_officer"},
}

TEXT = st.sampled_from(["经核查属实 / checked and true", "", "   ", "x" * 5000, "<script>alert(1)</script>"])
FEN = st.sampled_from([50_000, 91_000, 100_000, 200_000, 300_001, 800_000, 0, -1, 10**12, "many", None])


def _data(action: str, aid_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Data for an act: mostly what the act needs, sometimes missing, wrong or extra keys."""
    day = st.sampled_from(["2026-09-28", "2026-10-09", "2026-09-01", "2030-01-01", "28/09/2026"])
    valid: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "village_pass": st.fixed_dictionaries(
            {
                "investigators": st.lists(st.sampled_from(INVESTIGATORS), min_size=0, max_size=3, unique=True),
                "visit_date": day,
                "proposed_monthly_fen": FEN,
            }
        ),
        "township_pass": st.sampled_from([TOWNSHIP_PASS, {"opinion": ""}, {}]),
        "approve": st.sampled_from([TEKUN_APPROVE if aid_type == "tekun" else APPROVE, APPROVE, TEKUN_APPROVE])
        | st.fixed_dictionaries({"monthly_amount_fen": FEN, "mode": st.sampled_from(["household", "person", "?"])}),
        "terminate": st.fixed_dictionaries(
            {"reason": TEXT, "ground": st.sampled_from([*TERMINATION_GROUNDS, "bogus", None])}
        ),
        "grant_emergency": st.fixed_dictionaries({"amount_fen": FEN}),
        "grant_temporary": st.fixed_dictionaries({"amount_fen": FEN, "instalments": st.sampled_from([1, 3, 0, 25])}),
        "adjust": st.fixed_dictionaries({"monthly_amount_fen": FEN, "reason": TEXT}),
        "request_info": st.fixed_dictionaries({"missing": st.just(["户口簿 / household register"]), "due": day}),
        "convert_to_standard": st.fixed_dictionaries({"aid_type": st.sampled_from(["dibao", "temporary", "x"])}),
    }
    reason = st.fixed_dictionaries({"reason": TEXT})
    noise = st.sampled_from([{}, {"bogus": 1}, {"reason": 7}, {"amount_fen": "many"}, {"version": -1}])
    common = st.one_of(
        reason,
        st.fixed_dictionaries({"note": TEXT}),
        st.fixed_dictionaries({"finding": TEXT}),
    )
    return st.one_of(valid.get(action, common), valid.get(action, common), noise)


class _Refused(Exception):
    pass


class WorkflowMachine(RuleBasedStateMachine):
    """One workflow's cases under random acts, people, objections and time."""

    kind: ClassVar[str] = "standard"
    aid_types: ClassVar[tuple[str, ...]] = ("dibao",)
    new_db: ClassVar[Callable[[], tuple[Database, Callable[[], None]]]]
    counts: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.db, self._drop = type(self).new_db()
        self.flow = Flow(self.db, make_env(), make_world(self.db))
        self.clock = START
        self.cases: list[int] = []
        self.relatives: dict[int, set[str]] = {}
        self.verified: set[int] = set()
        self.actions = sorted(self._actions() - {"submit", "close_notice", "raise_objection", "start_review"})
        self._count("examples")

    def _actions(self) -> set[str]:
        from workflows.registry import definitions_of

        return {
            t.action
            for (key, _v), d in definitions_of(self.flow.env.policy).items()
            if key == self.kind
            for t in d.transitions
            if any(str(r) not in ("system", "Role.SYSTEM") for r in t.roles)
        }

    def teardown(self) -> None:
        self.db.dispose()
        self._drop()

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def person(self, name: str) -> Actor:
        return self.flow.world.by(name)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ steps

    @initialize(serial=st.integers(1, 900), relative=st.sampled_from([None, *RELATABLE]), data=st.data())
    def first_case(self, serial: int, relative: str | None, data: st.DataObject) -> None:
        self.file(serial=serial, relative=relative, by="boss", data=data)

    @precondition(lambda self: len(self.cases) < 2)
    @rule(
        serial=st.integers(1, 900),
        relative=st.sampled_from([None, *RELATABLE]),
        by=st.sampled_from(["clerk", "boss", "boss", "applicant", "far_clerk", "county"]),
        data=st.data(),
    )
    def file(self, serial: int, relative: str | None, by: str, data: st.DataObject) -> None:
        aid_type = data.draw(st.sampled_from(self.aid_types))
        relatives = [{"name": "李某", "id_number": OFFICIAL_IDS[relative], "relation": "配偶"}] if relative else []
        extra: dict[str, Any] = {}
        if aid_type == "temporary":
            extra = {"cause": "illness", "amount_requested_fen": 200_000}
        if aid_type == "tekun":
            extra = {"incomes": (0,), "born": "19500101"}  # T2: 60 or over, no income
        payload = household(aid_type=aid_type, serial=serial + 10 * len(self.cases), relatives=relatives, **extra)
        try:
            case_id = self.flow.submit(payload, self.clock, actor=self.person(by))
        except WorkflowError:
            self._count("filings refused")
            return
        self.cases.append(case_id)
        self.relatives[case_id] = {relative} if relative else set()
        self._count("cases")

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data(), who=st.sampled_from(PEOPLE))
    def act(self, data: st.DataObject, who: str) -> None:
        case_id = data.draw(st.sampled_from(self.cases))
        state = self.flow.state(case_id)
        definition = definition_for(self.flow.case(case_id))
        available = sorted(t.action for t in definition.available_from(state) if t.action in self.actions)
        # Mostly an act the state offers; sometimes any act of the workflow.
        action = data.draw(st.sampled_from(available) if available else st.sampled_from(self.actions))
        if data.draw(st.integers(0, 9)) == 0:
            action = data.draw(st.sampled_from(self.actions))
        payload = data.draw(_data(action, str(self.flow.case(case_id).data.get("aid_type"))))
        if action == "record_verification":
            self.verify(case_id, who)
            return
        self._attempt(case_id, lambda: self.flow.act(case_id, action, self.person(who), self.clock, payload))

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def advance_again(self, data: st.DataObject) -> None:
        """The happy path three times as likely as any other step."""
        self.advance(data)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def advance_once_more(self, data: st.DataObject) -> None:
        self.advance(data)

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data())
    def advance(self, data: st.DataObject) -> None:
        """The next step of the happy path, by one of the people who may take it, with the data it needs:
        without it few random runs would get far enough to test a decision."""
        case_id = data.draw(st.sampled_from(self.cases))
        case = self.flow.case(case_id)
        state, aid_type = case.state, str(case.data.get("aid_type"))
        township = st.sampled_from(["boss", "boss2", "boss3"])
        today = self.clock.astimezone(SHANGHAI).date().isoformat()
        steps: dict[str, tuple[str, st.SearchStrategy[str], dict[str, Any]]] = {
            "village_review": (
                "village_pass",
                st.sampled_from(["clerk", "clerk2"]),
                {"investigators": ["clerk", "clerk2"], "visit_date": today, "proposed_monthly_fen": 50_000},
            ),
            "township_review": ("township_pass", township, TOWNSHIP_PASS),
            "temporary_review": ("township_pass", township, TOWNSHIP_PASS),
            "township_approval": (
                ("grant_temporary", township, {"amount_fen": 200_000})
                if case.workflow == "temporary"
                else ("approve", township, TEKUN_APPROVE if aid_type == "tekun" else APPROVE)
            ),
            "county_approval": ("grant_temporary", st.just("county"), {"amount_fen": 200_000}),
            "objection_review": ("dismiss_objection", township, {"finding": "查无实据 / not borne out"}),
            "awaiting_info": ("provide_info", st.sampled_from(["clerk", "applicant"]), {"note": "已补齐 / provided"}),
            "emergency_reported": ("grant_emergency", township, {"amount_fen": 100_000}),
            "county_emergency_approval": ("grant_emergency", st.just("county"), {"amount_fen": 100_000}),
            "emergency_paid": ("complete_paperwork", township, {"note": "补齐签字盖章 / papers signed"}),
        }
        if state.startswith("notice_"):
            self.sweep(timedelta(days=data.draw(st.integers(3, 12))))
            return
        if state not in steps:
            return
        if state == "village_review" and case_id not in self.verified:
            self.verified.add(case_id)
            self.verify(case_id, "county")
        action, who, payload = steps[state]
        person = data.draw(who)
        self._attempt(case_id, lambda: self.flow.act(case_id, action, self.person(person), self.clock, payload))

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data(), by=st.sampled_from(["county", "county", "boss", "far_boss", "clerk"]))
    def verify(self, data: Any, by: str) -> None:
        case_id = data if isinstance(data, int) else data.draw(st.sampled_from(self.cases))
        self._attempt(case_id, lambda: self.flow.verify(case_id, self.clock, by=self.person(by)))

    @precondition(lambda self: bool(self.cases))
    @rule(data=st.data(), reason=st.sampled_from(["收入不实 / income untrue", "  "]))
    def object_to(self, data: st.DataObject, reason: str) -> None:
        case_id = data.draw(st.sampled_from(self.cases))
        with self.db.session(write=False) as s:
            ids = s.exec(select(Notice.id).where(Notice.case_id == case_id)).all()  # type: ignore[call-overload]
        if not ids:
            return
        notice_id = data.draw(st.sampled_from(sorted(ids)))

        def objection() -> None:
            with self.db.session() as s:
                raise_objection(s, env=self.flow.env, notice_id=notice_id, reason=reason, contact=None, now=self.clock)

        self._attempt(case_id, objection)
        self._count("objections tried")

    @rule(by=st.timedeltas(timedelta(hours=1), timedelta(days=40)), then=st.sampled_from(["sweep", "pay", "jump"]))
    def sweep(self, by: timedelta, then: str = "sweep") -> None:
        """The clock moves on, then the due timers fire, or the month's payments run, or neither (a jump:
        the next sweep finds several timers due at once)."""
        self.clock += by
        if then == "sweep":
            # Entries stamped at the moving clock, as a worker sweeping at that time would stamp them.
            done = run_due(self.db.session, now=self.clock, resolve=self.flow.env.resolve, clock=lambda: self.clock)
            self._count("timers fired", done.fired)
        elif then == "pay":
            with self.db.session() as s:
                done = run_payments(s, env=self.flow.env, month=month_of(self.clock), actor=SYSTEM, now=self.clock)
            self._count("payment runs")
            self._count("payment lines made", done.created)

    @rule(
        amount=st.sampled_from([100_000, 500_000, 3_000_000, 0, -100]), by=st.sampled_from(["county", "boss", "clerk"])
    )
    def deposit(self, amount: int, by: str) -> None:
        def pay_in() -> None:
            with self.db.session() as s:
                deposit_fund(
                    s,
                    env=self.flow.env,
                    township_code=self._township(),
                    amount_fen=amount,
                    actor=self.person(by),
                    now=self.clock,
                )

        self._attempt(None, pay_in)

    def _township(self) -> str:
        return self.flow.case(self.cases[0]).township_code if self.cases else "520102001"

    # ------------------------------------------------------------------ a refused act changes nothing

    def _snapshot(self, case_id: int | None) -> tuple[Any, ...]:
        with self.db.session(write=False) as s:
            case = s.get(Case, case_id) if case_id is not None else None
            seen = (case.version, case.state, json.dumps(case.data, sort_keys=True, default=str)) if case else None
            audit = s.exec(select(func.max(AuditEntry.seq))).one()
            funds = tuple(s.exec(select(Fund.account_code, Fund.balance_fen).order_by(Fund.account_code)).all())  # type: ignore[call-overload]
            notices = s.exec(select(func.count()).select_from(Notice)).one()
            timers = s.exec(select(func.count()).select_from(TimerRow)).one()
        return seen, audit or 0, funds, notices, timers

    def _attempt(self, case_id: int | None, work: Callable[[], Any]) -> None:
        before = self._snapshot(case_id)
        try:
            work()
        except GuardRejected as refused:
            # As the HTTP layer does: the act rolled back, a refusal that judged the person recorded.
            with self.db.session() as s:
                recorded = record_refusal(s, refused, at=self.clock)
            self._unchanged(case_id, before, refusals=1 if recorded else 0)
            self._count("refused (judging the person)" if recorded else "refused (guard)")
        except WorkflowError:
            self._unchanged(case_id, before, refusals=0)
            self._count("refused (other)")
        else:
            self._count("acts done")

    def _unchanged(self, case_id: int | None, before: tuple[Any, ...], refusals: int) -> None:
        after = self._snapshot(case_id)
        assert after[0] == before[0], "a refused act leaves the case as it was"
        assert after[2:] == before[2:], "a refused act moves no money and posts or arms nothing"
        assert after[1] - before[1] == refusals, "a refused act writes nothing but its own refusal"
        if refusals:
            with self.db.session(write=False) as s:
                last = s.exec(select(AuditEntry).where(AuditEntry.seq == after[1])).one()
            # A conversion whose new case's filing is refused records the refusal on no case (it never was).
            assert last.action == "refused"
            assert last.case_id in (case_id, None)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def decisions_follow_clean_notices_and_unrelated_reviews(self) -> None:
        if not hasattr(self, "flow"):
            return
        with self.db.session(write=False) as s:
            entries = s.exec(select(AuditEntry).where(AuditEntry.case_id.is_not(None)).order_by(AuditEntry.seq)).all()  # type: ignore[union-attr]
            notices = s.exec(select(Notice)).all()
            cases = {c.id: c for c in s.exec(select(Case)).all()}
        by_case: dict[int, list[AuditEntry]] = {}
        for e in entries:
            by_case.setdefault(int(e.case_id or 0), []).append(e)
        for case_id, trail in by_case.items():
            case = cases[case_id]
            decided = DECIDED.get(case.workflow)
            reached = next((i for i, e in enumerate(trail) if e.to_state == decided and e.from_state != decided), None)
            if reached is None:
                continue
            before = trail[: reached + 1]  # the entry that decided (or closed the last notice) included
            self._count("decided-case checks")
            for stage in NOTICES[case.workflow]:
                closes = [e for e in before if e.action == "close_notice" and e.from_state == stage]
                assert closes, f"case {case_id} reached {decided} without its {stage} closing: {_trail(trail)}"
                last = closes[-1]
                assert last.actor == "system", "a notice is closed by its timer"
                posted = [n for n in notices if n.case_id == case_id and n.state == stage]
                assert posted, f"case {case_id}: {stage} closed, never posted"
                due = datetime.fromisoformat(json.loads(last.data)["timer"]["due"])
                assert any(_utc(n.ends) <= due <= _utc(last.at) for n in posted), (
                    f"case {case_id}: {stage} closed before it had run its time"
                )
            related = self.relatives.get(case_id, set())
            reviews = [e for e in before if e.action in REVIEWS]
            for e in reviews:
                assert e.role in REVIEWS[e.action], f"{e.action} by a {e.role}"
                assert e.actor not in related, f"{e.action} by {e.actor}, a declared relative"
                if e.action == "village_pass":
                    named = set(json.loads(e.data)["data"].get("investigators") or [])
                    assert named <= {"clerk", "clerk2", "boss", "boss2", "boss3"}, named
                    assert not named & related, "a related investigator"
            if case.workflow == "standard":
                passers = {e.actor for e in before if e.action == "township_pass"}
                approver = [e.actor for e in before if e.action == "approve"][-1]
                assert approver not in passers, "the township's opinion and the approval by two people"
                village = {e.actor for e in before if e.action == "village_pass"}
                assert not village & passers, "the village's reviewer did not give the township's opinion"

    @invariant()
    def money_only_under_a_decision_and_no_fund_below_zero(self) -> None:
        if not hasattr(self, "flow"):
            return
        with self.db.session(write=False) as s:
            lines = s.exec(select(PaymentLine)).all()
            for line in lines:
                reached = s.exec(
                    select(AuditEntry.seq).where(
                        AuditEntry.case_id == line.case_id,
                        AuditEntry.to_state.in_(("active", "granted")),  # type: ignore[union-attr]
                    )
                ).first()
                assert reached is not None, f"a payment line of case {line.case_id}, which has no decision"
            for fund in s.exec(select(Fund)).all():
                assert fund.balance_fen >= 0, f"fund {fund.account_code} below zero"

    @invariant()
    def chain_and_live_state_verify(self) -> None:
        if not hasattr(self, "flow"):
            return
        with self.db.session(write=False) as s:
            chain = verify_log(s)
            live = verify_live(s)
        assert chain.ok, chain
        assert live.ok, live.why
        self._count("steps checked")


def _trail(entries: list[AuditEntry]) -> list[tuple[str, str | None, str | None, str]]:
    return [(e.action, e.from_state, e.to_state, e.actor) for e in entries]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StandardDibao(WorkflowMachine):
    kind, aid_types = "standard", ("dibao",)


class StandardTekun(WorkflowMachine):
    kind, aid_types = "standard", ("tekun",)


class Emergency(WorkflowMachine):
    kind, aid_types = "emergency", ("emergency",)


class Temporary(WorkflowMachine):
    kind, aid_types = "temporary", ("temporary",)


@pytest.fixture
def fresh_databases(template: str, tmp_path: Path) -> Callable[[], tuple[Database, Callable[[], None]]]:
    """A factory of databases copied from the migrated template, one per example, each dropped after it."""

    def make() -> tuple[Database, Callable[[], None]]:
        if BACKEND == "postgres":
            name = f"aidflow_p_{uuid.uuid4().hex[:12]}"
            with _pg_admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

            def drop() -> None:
                with _pg_admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            return Database(f"{PG_BASE}/{name}"), drop
        path = tmp_path / f"{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(template, path)
        return Database(f"sqlite:///{path}"), lambda: path.unlink(missing_ok=True)

    return make


@pytest.mark.parametrize("machine", [StandardDibao, StandardTekun, Emergency, Temporary], ids=lambda m: m.__name__)
def test_every_step_keeps_the_procedure_the_money_and_the_chain(
    machine: type[WorkflowMachine], fresh_databases: Callable[[], tuple[Database, Callable[[], None]]]
) -> None:
    machine.new_db = staticmethod(fresh_databases)  # type: ignore[assignment]
    machine.counts = {}
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # AIDFLOW_PROPERTY_SHRINK=0: report the first failing run as found (a soak's failure, at once).
            phases=[p for p in Phase if os.environ.get("AIDFLOW_PROPERTY_SHRINK", "1") != "0" or p != Phase.shrink],
        ),
    )
    counts = machine.counts
    assert counts.get("examples", 0) >= EXAMPLES
    assert counts.get("steps checked", 0) > 0
    record(f"property ({BACKEND})", **{f"{machine.__name__} {k}": v for k, v in counts.items()})
    record(f"property ({BACKEND})", examples=counts["examples"], **{"steps checked": counts["steps checked"]})
