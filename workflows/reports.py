"""Inspectors' reports: missed clocks, refused attempts, filed relatives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select as core_select
from sqlmodel import Session

from engine.access import Actor, Role
from engine.queue import visible_clause
from engine.tables import AuditEntry, Case
from workflows import standard
from workflows.base import AUDIT, CASES, FLAG_ACTIONS


class FlagOut(BaseModel):
    application_id: int | None  # None for a refused filing: no case was opened
    reference: str | None
    kind: str
    state: str
    at: datetime
    region_code: str
    official: str | None = None  # who was refused, or who must recuse
    detail: str | None = None  # what was attempted, and why it was refused


def _flag_rows(session: Session, actor: Actor, actions: Sequence[str]) -> Sequence[Any]:
    query = (
        core_select(
            AUDIT.case_id,
            AUDIT.action,
            AUDIT.from_state,
            AUDIT.at,
            CASES.reference,
            CASES.region_code,
            AUDIT.actor,
            AUDIT.data,
        )
        .join_from(AuditEntry.__table__, Case.__table__, CASES.id == AUDIT.case_id)  # type: ignore[attr-defined]
        .where(AUDIT.action.in_(actions), visible_clause(actor))
        .order_by(AUDIT.seq.desc())
    )
    return session.connection().execute(query).all()


def integrity_flags(session: Session, *, actor: Actor) -> list[FlagOut]:
    """What an inspector looks at first, in the actor's scope, newest first: missed clocks (as
    `overdue_flags`), officials refused for recusal or separation of duties (`refused_attempt`), and
    cases with an official among the household's relatives (`filed_relative`)."""
    found = overdue_flags(session, actor=actor)
    for case_id, action, state, at, reference, region, who, raw in _flag_rows(session, actor, ("refused", "recusal")):
        found.append(_entry_flag(action, state, at, region, who, raw, case_id, reference))
    found += _refused_filings(session, actor)
    return sorted(found, key=lambda f: f.at, reverse=True)


def _entry_flag(
    action: str,
    state: str | None,
    at: datetime,
    region: str,
    who: str,
    raw: str,
    case_id: int | None,
    reference: str | None,
) -> FlagOut:
    """A `refused` or `recusal` audit entry as a line of the report (its data is the entry's JSON)."""
    data = json.loads(raw)
    if action == "refused":
        reasons = "；".join(str(r) for r in data.get("reasons") or [])
        kind, official, detail = "refused_attempt", who, f"{data.get('attempted')}: {reasons}"
    else:
        kind, official, detail = "filed_relative", str(data.get("official") or ""), str(data.get("why") or "")
    return FlagOut(
        application_id=case_id,
        reference=reference,
        kind=kind,
        state=state or "",
        at=at,
        region_code=region,
        official=official,
        detail=detail,
    )


def _refused_filings(session: Session, actor: Actor) -> list[FlagOut]:
    """Refusals with no case (an official filing for their own relatives): scoped by the village."""
    rows = session.connection().execute(
        core_select(AUDIT.region_code, AUDIT.at, AUDIT.actor, AUDIT.data, AUDIT.from_state)
        .where(AUDIT.action == "refused", AUDIT.case_id.is_(None))
        .order_by(AUDIT.seq.desc())
    )
    return [
        _entry_flag("refused", state, at, region, who, raw, None, None)
        for region, at, who, raw, state in rows
        if actor.roles_on(region) - {Role.APPLICANT}
    ]


def overdue_flags(session: Session, *, actor: Actor) -> list[FlagOut]:
    """Breaches recorded on cases in the actor's scope (missed deadlines, paperwork overdue), newest first."""
    rows = [r[:6] for r in _flag_rows(session, actor, FLAG_ACTIONS)]
    kinds = {
        "flag_paperwork_overdue": "paperwork_overdue",
        "flag_first_aid_overdue": "first_aid_overdue",
        "flag_suspension_long": "suspended_too_long",
    }
    found = []
    for case_id, action, state, at, reference, region in rows:
        kind = kinds.get(action) or standard.OVERDUE_KINDS.get(state or "", "overdue")
        found.append(
            FlagOut(
                application_id=case_id, reference=reference, kind=kind, state=state or "", at=at, region_code=region
            )
        )
    return found
