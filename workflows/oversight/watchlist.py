"""潜在救助对象: refused, withdrawn and exited households still in hardship, kept in view and visited again."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session
from sqlmodel import select as model_select

from engine import auditlog
from engine.access import Actor, Role
from engine.calendar import add_months, local_date
from engine.errors import InvalidInput, NotFound, RoleNotPermitted
from engine.queue import visible_clause
from engine.tables import Case
from workflows import review, standard
from workflows.base import AUDIT, CASES, household_hashes, role_of
from workflows.models import EmergencyGrant
from workflows.spec import StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env

WATCHED_STATES = (standard.REJECTED, standard.WITHDRAWN, review.EXITED)
FOLLOW_UP = "watch_follow_up"
_GRANTS = EmergencyGrant.__table__  # type: ignore[attr-defined]
VISITORS = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER)  # who records a follow-up


class WatchOut(BaseModel):
    application_id: int
    reference: str
    region_code: str
    state: str
    reasons: list[str]
    since: datetime
    last_follow_up: datetime | None
    next_follow_up: datetime
    due: bool


def hardship(env: Env, case: Case, grants_this_year: set[str]) -> list[str]:
    """Why a household that left or was refused still looks in need; empty when it does not."""
    data = case.data
    members = data.get("members") or []
    reasons = []
    if data.get("category") == "margin":
        reasons.append("已认定为低保边缘家庭 / decided a low-income margin household (E3)")
    rules = env.rules(case.region_code, case.state_entered_at)
    income = sum(int(m.get("monthly_income_fen") or 0) for m in members)
    if members and income < rules.watch_income_multiple * rules.dibao_standard_fen * len(members):
        per_head = income // len(members)
        reasons.append(
            f"人均月收入 {per_head} 分，低于标准的 {rules.watch_income_multiple} 倍 / "
            f"income of {per_head} fen a head, under {rules.watch_income_multiple} times the standard"
        )
    if any(m.get("serious_illness") for m in members):
        reasons.append("家庭成员患重病 / a member is seriously ill")
    if any(m.get("severe_disability") or m.get("disability") for m in members):
        reasons.append("家庭成员有残疾 / a member has a disability")
    if grants_this_year & set(household_hashes(case)):
        reasons.append("本年度曾获临时救助 / an emergency grant this year")
    return reasons


def watch_list(session: Session, *, env: Env, actor: Actor, now: datetime) -> list[WatchOut]:
    """The households kept in view in the actor's scope, the follow-ups due first."""
    query = model_select(Case).where(
        CASES.workflow == StandardSpec.key,
        CASES.state.in_(WATCHED_STATES),
        visible_clause(actor),
    )
    cases = list(session.exec(query).all())
    if not cases:
        return []
    year = local_date(now).year
    granted = {str(h) for (h,) in session.execute(select(_GRANTS.c.person_hash).where(_GRANTS.c.year == year)).all()}
    visits = _last_follow_ups(session, [c.id for c in cases if c.id is not None])
    found = []
    for case in cases:
        reasons = hardship(env, case, granted)
        if not reasons:
            continue
        assert case.id is not None
        last = visits.get(case.id)
        months = env.rules(case.region_code, now).watch_follow_up_months
        due_at = add_months(last or case.state_entered_at, months)
        found.append(
            WatchOut(
                application_id=case.id,
                reference=case.reference,
                region_code=case.region_code,
                state=case.state,
                reasons=reasons,
                since=case.state_entered_at,
                last_follow_up=last,
                next_follow_up=due_at,
                due=due_at <= now,
            )
        )
    return sorted(found, key=lambda w: (w.next_follow_up, w.application_id))


def _last_follow_ups(session: Session, case_ids: list[int]) -> dict[int, datetime]:
    rows = session.execute(
        select(AUDIT.case_id, AUDIT.at)
        .where(AUDIT.action == FOLLOW_UP, AUDIT.case_id.in_(case_ids))
        .order_by(AUDIT.seq)
    )
    return {int(case_id): at for case_id, at in rows}


def record_follow_up(
    session: Session, *, env: Env, actor: Actor, case_id: int, note: str, still_in_need: bool, now: datetime
) -> WatchOut | None:
    """回访: an official's follow-up visit, on the trail; the household's line as it now stands (None if gone)."""
    note = note.strip()
    if not note or len(note) > 2000:
        raise InvalidInput("回访情况须填写（2000 字以内）/ the follow-up needs a note (at most 2000 characters)")
    case = session.exec(model_select(Case).where(CASES.id == case_id, visible_clause(actor))).first()
    if case is None or case.state not in WATCHED_STATES:
        raise NotFound(f"关注对象 {case_id} 不存在 / no watched household {case_id}")
    if not any(r in VISITORS for r in actor.roles_on(case.region_code)):
        raise RoleNotPermitted("只有村、乡镇、县工作人员可以登记回访 / only officials record a follow-up")
    act: dict[str, Any] = {"note": note, "still_in_need": still_in_need}
    auditlog.record(
        session, case=case, actor_name=actor.username, role=role_of(actor), action=FOLLOW_UP, data=act, at=now
    )
    return next((w for w in watch_list(session, env=env, actor=actor, now=now) if w.application_id == case_id), None)


def follow_ups(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The follow-ups recorded on a case, oldest first."""
    rows = session.execute(
        select(AUDIT.at, AUDIT.actor, AUDIT.data)
        .where(AUDIT.action == FOLLOW_UP, AUDIT.case_id == case_id)
        .order_by(AUDIT.seq)
    )
    return [{"at": at, "by": who, **json.loads(raw)} for at, who, raw in rows]
