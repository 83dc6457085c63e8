"""Helpers of the aid workflows' tests: a county of officials, households with valid identity numbers,
one-line acts and timer sweeps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from engine.access import Actor
from engine.calendar import SHANGHAI
from engine.database import Database
from engine.runtime import TransitionRecord
from engine.tables import Case
from engine.timers import SweepResult, run_due
from tests.cast import CIPHER, OFFICIAL_IDS, SECRET, World, make_world
from tests.households import household, household_body, id_number
from workflows.acting import perform_action
from workflows.applications import submit_application
from workflows.env import Env
from workflows.policy import Override, Policy
from workflows.schemas import ApplicationIn

# The suite's vocabulary, one import away: the cast, the household builder, Flow.
__all__ = [
    "APPROVE",
    "CIPHER",
    "OFFICIAL_IDS",
    "SECRET",
    "TEKUN_APPROVE",
    "TOWNSHIP_PASS",
    "VILLAGE_PASS",
    "Flow",
    "World",
    "audit_actions",
    "household",
    "household_body",
    "id_number",
    "local",
    "make_env",
    "make_world",
]


def make_env(*overrides: Override) -> Env:
    return Env.of(Policy.load(None).with_overrides(*overrides), SECRET)


VILLAGE_PASS = {"investigators": ["clerk", "clerk2"], "visit_date": "2026-09-28", "proposed_monthly_fen": 50_000}
TOWNSHIP_PASS = {"opinion": "经核查，收入和财产符合条件 / income and assets qualify"}
APPROVE = {
    "monthly_amount_fen": 50_000,
    "mode": "household",
    "basis": "人均收入低于当地低保标准 / per-person income below the local standard",
}
# 特困 (T5): the decision also sets the care level and where the person is supported.
TEKUN_APPROVE = {
    "monthly_amount_fen": 91_000,
    "care_level": "independent",
    "support_mode": "home",
    "basis": "无劳动能力、无生活来源、无法定赡养人 / no work capacity, income or supporter",
}


class Flow:
    """One test's database, environment and people, with one-line acts."""

    def __init__(self, db: Database, env: Env, world: World) -> None:
        self.db, self.env, self.world = db, env, world

    # The standard application's happy path under the default policy: the step that leads into each
    # state, and how many days after filing it is taken.
    _PATH = (
        "village_review",
        "notice_village",
        "township_review",
        "notice_township",
        "township_approval",
        "notice_final",
        "active",
    )

    def to(
        self,
        state: str,
        payload: ApplicationIn,
        now: datetime,
        approve: dict[str, Any] | None = None,
        verifier: Actor | None = None,
    ) -> int:
        """A case filed at `now` and walked along the happy path until it stands in `state`
        (village_review on filing; each notice runs its 7 days; active 23 days after filing)."""
        if state not in self._PATH:
            raise ValueError(f"the happy path does not pass through {state!r}: {self._PATH}")
        w, day = self.world, timedelta(days=1)
        default = TEKUN_APPROVE if payload.aid_type == "tekun" else APPROVE

        def village(case_id: int) -> None:
            self.verify(case_id, now, by=verifier)  # P4: the county's report comes in during the village review
            self.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)

        steps = (
            village,
            lambda case_id: self.sweep(now + 7 * day),
            lambda case_id: self.act(case_id, "township_pass", w.boss, now + 8 * day, TOWNSHIP_PASS),
            lambda case_id: self.sweep(now + 15 * day),
            lambda case_id: self.act(case_id, "approve", w.boss2, now + 16 * day, approve or default),
            lambda case_id: self.sweep(now + 23 * day),
        )
        case_id = self.submit(payload, now)
        for step in steps[: self._PATH.index(state)]:
            step(case_id)
        assert self.state(case_id) == state
        return case_id

    def to_active(self, payload: ApplicationIn, now: datetime, approve: dict[str, Any] | None = None) -> int:
        """A case filed at `now` and walked through three clean notices: active 23 days later."""
        return self.to("active", payload, now, approve)

    def verify(
        self,
        case_id: int,
        now: datetime,
        found: Mapping[int, Mapping[str, Any]] | None = None,
        by: Actor | None = None,
    ) -> None:
        """The county's 核对 report on every member (P4): as declared (the household's assets on the first
        member), or as `found` gives it for a member's 1-based position."""
        data = self.case(case_id).data
        for position, member in enumerate(data.get("members") or [], start=1):
            report = {
                "member": position,
                "monthly_income_fen": member.get("monthly_income_fen", 0),
                "assets_fen": data.get("assets_fen", 0) if position == 1 else 0,
                "findings": "与申报一致 / as declared",
                **(found or {}).get(position, {}),
            }
            self.act(case_id, "record_verification", by or self.world.county, now, report)

    def submit(self, payload: ApplicationIn, now: datetime, actor: Actor | None = None) -> int:
        with self.db.session() as s:
            done = submit_application(s, env=self.env, actor=actor or self.world.clerk, payload=payload, now=now)
            assert done.case.id is not None
            return done.case.id

    def act(
        self, case_id: int, action: str, who: Actor, now: datetime, data: Mapping[str, Any] | None = None
    ) -> TransitionRecord:
        with self.db.session() as s:
            case = s.get(Case, case_id)
            assert case is not None
            return perform_action(
                s,
                env=self.env,
                actor=who,
                case_id=case_id,
                action=action,
                version=case.version,
                data=dict(data or {}),
                comment=None,
                now=now,
            )

    def sweep(self, until: datetime) -> SweepResult:
        return run_due(self.db.session, now=until, resolve=self.env.resolve)

    def case(self, case_id: int) -> Case:
        with self.db.session(write=False) as s:
            case = s.get(Case, case_id)
            assert case is not None
            s.expunge(case)
            return case

    def state(self, case_id: int) -> str:
        return self.case(case_id).state

    def session(self, write: bool = True) -> Any:
        return self.db.session(write=write)


def audit_actions(s: Session, case_id: int) -> list[str]:
    from engine.tables import AuditEntry

    rows = s.exec(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.seq)).all()  # type: ignore[arg-type]
    return [r.action for r in rows]


def local(day: str, hour: int = 10) -> datetime:
    """A moment on a Shanghai calendar day, as UTC."""
    d = date.fromisoformat(day)
    return datetime(d.year, d.month, d.day, hour, tzinfo=SHANGHAI).astimezone(UTC)
