"""Who hears of a transition, and what they read (Chinese first, English second)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlmodel import Session, col

from engine.access import Role, county_of, covers, township_of
from engine.accounts import actor_for
from engine.calendar import SHANGHAI
from engine.runtime import TransitionRecord
from engine.tables import Case, RoleGrant, User
from notifications.outbox import enqueue
from workflows import aidtypes
from workflows.casefile import CaseFile
from workflows.env import Env
from workflows.tasks import has_task
from workflows.texts import plain, reason_for
from workflows.tracking import step_due

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


def _aid_name(case: Case, i: int) -> str:
    """The aid type's name in one language (0 Chinese, 1 English), as the registry gives it."""
    aid = aidtypes.find(case.data.get("aid_type"))
    if aid is None:
        return case.workflow
    return aid.name_en if i else aid.name_zh


def _local(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def _officials_who_act(session: Session, env: Env, case: Case, at: datetime) -> list[User]:
    """Officials with an e-mail who can act on the case in its new state: their role acts there, and
    they are not barred from it as persons (recused, or acted at an earlier stage)."""
    definition = env.definition_for(case)
    roles = {r for t in definition.available_from(case.state) for r in t.roles} - {
        Role.SYSTEM,
        Role.PUBLIC,
        Role.APPLICANT,
    }
    if not roles:
        return []
    code = case.region_code
    # the village and every region above it: township, county, city, province
    ancestors = {code, township_of(code), county_of(code), code[:4] + "0" * 8, code[:2] + "0" * 10}
    rows = session.execute(
        select(User, col(RoleGrant.region_code))
        .join(RoleGrant, col(RoleGrant.user_id) == col(User.id))
        .where(col(RoleGrant.role).in_(sorted(roles)), col(RoleGrant.region_code).in_(sorted(ancestors)))
    ).all()
    seen: dict[int, User] = {}
    for user, region in rows:
        reaches = user.email and user.active and covers(region, case.region_code) and user.id is not None
        if reaches and user.id not in seen and has_task(session, env, case, actor_for(session, user), at):
            assert user.id is not None
            seen[user.id] = user
    return list(seen.values())


def _part(label: str, i: int) -> str:
    """One language of a "中文 / English" label (the whole label when it has one only)."""
    parts = label.split(" / ", 1)
    return parts[i] if len(parts) == 2 else label


def on_transition(session: Session, env: Env, record: TransitionRecord) -> int:
    """Queue the messages a transition calls for, in the caller's transaction; returns how many.

    The aid domain says who may act now (workflows.tasks) and by when (workflows.tracking)."""
    if not record.moved:
        return 0
    case = session.get(Case, record.case_id)
    assert case is not None
    definition = env.definition_for(case)
    applicant_email = CaseFile.read(case.data).applicant.email_in(env.cipher)
    due = step_due(session, env, case)
    recipients: list[tuple[str, bool, str]] = [
        (u.email or "", True, u.display_name or u.username) for u in _officials_who_act(session, env, case, record.at)
    ]
    if case.applicant_user_id is not None:
        owner = session.get(User, case.applicant_user_id)
        if owner is not None and owner.email:
            recipients.append((owner.email, False, owner.display_name))
    if applicant_email and all(r[0] != applicant_email for r in recipients):
        recipients.append((applicant_email, False, ""))
    template = _templates.get_template("state_changed.txt")
    where_zh, next_zh = plain(case.state, "zh")
    where_en, next_en = plain(case.state, "en")
    window = (case.data.get("refusal") or {}).get("appeal") if case.state == "rejected" else None
    if isinstance(window, dict):  # P12: the refusal states its appeal window
        days, months = window.get("review_days"), window.get("lawsuit_months")
        next_zh += f"（行政复议：自知道本决定之日起 {days} 日内；行政诉讼：{months} 个月内）"
        next_en += f" (administrative review within {days} days of learning of this decision;"
        next_en += f" a lawsuit within {months} months)"
    info = case.data.get("info_request") or {} if case.state == "awaiting_info" else {}
    queued = 0
    for address, for_official, name in recipients:
        body = template.render(
            greeting_zh=f"{name}，您好：" if name else "您好：",
            reference=record.reference,
            aid_label_zh=_aid_name(case, 0),
            aid_label_en=_aid_name(case, 1),
            at_local=_local(record.at),
            from_zh=_part(definition.label(record.from_state), 0),
            to_zh=_part(definition.label(record.to_state), 0),
            from_en=_part(definition.label(record.from_state), 1),
            to_en=_part(definition.label(record.to_state), 1),
            for_official=for_official,
            deadline_local=_local(due if due is not None else case.deadline),
            where_zh=where_zh,
            next_zh=next_zh,
            where_en=where_en,
            next_en=next_en,
            reason=reason_for(case.state, case.data) or "",
            missing=[str(m) for m in info.get("missing") or []],
            missing_due=str(info.get("due") or ""),
        )
        subject = f"【社会救助】{record.reference} {definition.label(record.to_state)} / case {record.to_state}"
        if enqueue(
            session,
            dedupe_key=f"t{record.audit_seq}:{address}",
            kind="state_changed",
            recipient=address,
            subject=subject,
            body=body,
            now=record.at,
            case_id=record.case_id,
        ):
            queued += 1
    return queued
