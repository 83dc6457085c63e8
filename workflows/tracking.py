"""Where a case stands, in plain words, for the household's tracking page and mail."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine.calendar import SHANGHAI
from engine.tables import Case, TimerRow
from workflows import emergency, standard
from workflows.base import aware, end_of_day
from workflows.models import (
    Notice,
)
from workflows.texts import plain, reason_for

if TYPE_CHECKING:
    from workflows.env import Env


def step_due(session: Session, env: Env, case: Case) -> datetime | None:
    """By when the case's present step is due, wherever that is known."""
    d = case.data
    if case.state.startswith("notice_"):
        notice = session.exec(
            select(Notice).where(Notice.case_id == case.id, Notice.entered_version == case.entered_version)
        ).first()
        return notice.ends if notice is not None else case.deadline
    if case.state == standard.AWAITING_INFO:
        due = (d.get("info_request") or {}).get("due")
        try:
            return end_of_day(date.fromisoformat(str(due)))
        except ValueError:
            return case.deadline
    if case.state == standard.VILLAGE_REVIEW:
        entered = aware(case.state_entered_at)
        delay = env.rules(case.region_code, entered).village_review
        return env.calendar.due(entered, delay) if delay is not None else case.deadline
    if case.deadline is not None:
        return case.deadline
    # Else the next thing the calendar will do to it: the review, the grace period's end, a notice's
    # end (a missed clock's flag is not a step, and is not shown as one).
    due_at = session.exec(
        select(TimerRow.due_at)
        .where(
            TimerRow.case_id == case.id,
            TimerRow.state == case.state,
            TimerRow.entered_version == case.entered_version,
            col(TimerRow.action).not_like("flag%"),
            col(TimerRow.fired_at).is_(None),
        )
        .order_by(col(TimerRow.due_at))
    ).first()
    return aware(due_at) if due_at is not None else None


def plain_status(session: Session, *, env: Env, case: Case, lang: str, now: datetime) -> dict[str, Any]:
    """The public tracking page: where the case is, what comes next, by when; no personal data.

    A converted emergency case is followed to the standard application it became, so the code on
    the household's first receipt keeps telling them where things stand."""
    d = case.data
    link = d.get("converted_to") or {}
    if case.state == emergency.CONVERTED and isinstance(link.get("id"), int):
        successor = session.get(Case, link["id"])
        if successor is not None:
            return {
                **plain_status(session, env=env, case=successor, lang=lang, now=now),
                "converted_from": case.reference,
            }
    where, nxt = plain(case.state, lang)
    en = lang == "en"
    reason = reason_for(case.state, d)
    if case.state == "exited" and (d.get("exited") or {}).get("how") == "terminated":
        nxt = plain("rejected", lang)[1]  # the right of appeal, as for a refusal
    if case.state == "awaiting_info" and d.get("info_request"):
        asked = d["info_request"]
        items = "；".join(str(m) for m in asked.get("missing") or [])
        nxt = f"Provide by {asked.get('due')}: {items}" if en else f"请于 {asked.get('due')} 前补齐：{items}"
    deadline = step_due(session, env, case)
    label = env.definition_for(case).label(case.state)
    return {
        "reference": case.reference,
        "state": case.state,
        "state_label": label.split(" / ")[-1] if en else label.split(" / ")[0],
        "status_text": where,
        "next_step": nxt,
        "deadline": deadline,
        "deadline_local": deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if deadline else None,
        "submitted_at": submitted_at(case),
        "updated_at": case.updated_at,
        "reason": reason,
    }


def submitted_at(case: Case) -> datetime | None:
    """When the household's application was submitted; a draft has not been."""
    submitted = case.data.get("submitted") or {}
    return datetime.fromisoformat(submitted["at"]) if submitted.get("at") else None


def find_by_tracking_code(session: Session, *, env: Env, code: str) -> Case | None:
    if not code or len(code) > 64:
        return None
    return session.exec(select(Case).where(Case.tracking_hash == env.cipher.lookup_hash(code))).first()
