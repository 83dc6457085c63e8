"""Helpers of the aid workflows' tests: a county of officials, households with valid identity numbers,
one-line acts and timer sweeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from engine.access import Actor, Role
from engine.calendar import SHANGHAI
from engine.database import Database
from engine.runtime import TransitionRecord
from engine.secrets import FieldCipher, id_check_char
from engine.tables import Case
from engine.timers import SweepResult, run_due
from tests.factories import COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE, TOWNSHIP, VILLAGE, make_regions, make_user
from workflows.acting import perform_action
from workflows.applications import submit_application
from workflows.env import Env
from workflows.policy import Override, Policy
from workflows.schemas import ApplicationIn

SECRET = "workflow-tests-secret-0123456789"
CIPHER = FieldCipher(SECRET)


def id_number(born: str = "19700101", serial: int = 1, region: str = VILLAGE) -> str:
    first = f"{region[:6]}{born}{serial:03d}"
    return first + id_check_char(first)


# Officials with identity numbers, so the conflict-of-interest checks have something to match.
OFFICIAL_IDS = {
    "clerk": id_number("19800101", 501),
    "clerk2": id_number("19800101", 502),
    "boss": id_number("19800101", 503),
    "boss2": id_number("19800101", 504),
    "boss3": id_number("19800101", 505),
    "county": id_number("19800101", 506),
}


@dataclass(frozen=True)
class World:
    clerk: Actor  # village officer of VILLAGE
    clerk2: Actor  # another village officer of VILLAGE
    boss: Actor  # township officer of TOWNSHIP
    boss2: Actor  # another township officer of TOWNSHIP
    boss3: Actor  # a third township officer of TOWNSHIP
    county: Actor  # county officer
    inspector: Actor
    far_clerk: Actor  # village officer of OTHER_VILLAGE
    far_boss: Actor  # township officer of OTHER_TOWNSHIP
    applicant: Actor
    neighbour: Actor


def make_world(db: Database) -> World:
    with db.session() as s:
        make_regions(s)

        def official(name: str, role: str, region: str) -> Actor:
            hashed = CIPHER.lookup_hash(OFFICIAL_IDS[name]) if name in OFFICIAL_IDS else None
            return make_user(s, name, role=role, region=region, id_number_hash=hashed)

        return World(
            clerk=official("clerk", Role.VILLAGE_OFFICER, VILLAGE),
            clerk2=official("clerk2", Role.VILLAGE_OFFICER, VILLAGE),
            boss=official("boss", Role.TOWNSHIP_OFFICER, TOWNSHIP),
            boss2=official("boss2", Role.TOWNSHIP_OFFICER, TOWNSHIP),
            boss3=official("boss3", Role.TOWNSHIP_OFFICER, TOWNSHIP),
            county=official("county", Role.COUNTY_OFFICER, COUNTY),
            inspector=official("inspector", Role.INSPECTOR, COUNTY),
            far_clerk=official("far_clerk", Role.VILLAGE_OFFICER, OTHER_VILLAGE),
            far_boss=official("far_boss", Role.TOWNSHIP_OFFICER, OTHER_TOWNSHIP),
            applicant=official("applicant", Role.APPLICANT, VILLAGE),
            neighbour=official("neighbour", Role.APPLICANT, VILLAGE),
        )


def make_env(*overrides: Override) -> Env:
    return Env.of(Policy.load(None).with_overrides(*overrides), SECRET)


def household(
    *,
    aid_type: str = "dibao",
    village: str = VILLAGE,
    incomes: tuple[int, ...] = (20_000, 0),
    serial: int = 1,
    assets_fen: int = 500_000,
    relatives: list[dict[str, Any]] | None = None,
    draft: bool = False,
    born: str = "19700101",
    email: str | None = None,
    **extra: Any,
) -> ApplicationIn:
    """A household of len(incomes) members; the first is the applicant."""
    people = [
        {
            "name": "王小英" if i == 0 else f"王家{i}",
            "id_number": id_number(born if i == 0 else "19950505", serial * 10 + i, village),
            "relation": "本人" if i == 0 else "子女",
            "monthly_income_fen": income,
        }
        for i, income in enumerate(incomes)
    ]
    for key in ("severe_disability", "serious_illness", "can_work", "disability"):
        if key in extra:
            people[-1][key] = extra.pop(key)
    body: dict[str, Any] = {
        "aid_type": aid_type,
        "village": village,
        "draft": draft,
        "applicant": {"name": "王小英", "id_number": people[0]["id_number"], "phone": "13800000000", "email": email},
        "members": people,
        "assets_fen": assets_fen,
        "reason": "家庭收入低，生活困难",
        "relatives_in_office": relatives or [],
    }
    if aid_type == "emergency":
        body.update(cause="fire", amount_requested_fen=200_000, reason="房屋失火")
    body.update(extra)
    return ApplicationIn.model_validate(body)


VILLAGE_PASS = {"investigators": ["clerk", "clerk2"], "visit_date": "2026-09-28", "proposed_monthly_fen": 50_000}
TOWNSHIP_PASS = {"opinion": "经核查，收入和财产符合条件 / income and assets qualify"}
APPROVE = {"monthly_amount_fen": 50_000, "mode": "household"}
# 特困 (T5): the decision also sets the care level and where the person is supported.
TEKUN_APPROVE = {"monthly_amount_fen": 91_000, "care_level": "independent", "support_mode": "home"}


class Flow:
    """One test's database, environment and people, with one-line acts."""

    def __init__(self, db: Database, env: Env, world: World) -> None:
        self.db, self.env, self.world = db, env, world

    def to_active(self, payload: ApplicationIn, now: datetime, approve: dict[str, Any] | None = None) -> int:
        """A case filed at `now` and walked through three clean notices: active 23 days later."""
        w, day = self.world, timedelta(days=1)
        case_id = self.submit(payload, now)
        self.act(case_id, "village_pass", w.clerk, now, VILLAGE_PASS)
        self.sweep(now + 7 * day)
        self.act(case_id, "township_pass", w.boss, now + 8 * day, TOWNSHIP_PASS)
        self.sweep(now + 15 * day)
        default = TEKUN_APPROVE if payload.aid_type == "tekun" else APPROVE
        self.act(case_id, "approve", w.boss2, now + 16 * day, approve or default)
        self.sweep(now + 23 * day)
        assert self.state(case_id) == "active"
        return case_id

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
