"""Objections (异议) raised on the notice board, and their outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col

from engine import auditlog
from engine.access import PUBLIC, Actor, Role
from engine.authorize import valid_id
from engine.errors import (
    InvalidInput,
    NotFound,
)
from engine.runtime import TransitionRecord
from engine.tables import Case
from workflows import codes
from workflows.base import OBJECTIONS
from workflows.common import OBJECT, OBJECTION_REVIEW
from workflows.firing import decide, fire_act
from workflows.models import (
    Notice,
    Objection,
)
from workflows.notices import is_running

if TYPE_CHECKING:
    from workflows.env import Env


class ObjectionReceipt(BaseModel):
    receipt_code: str
    reference: str
    stage: str  # the notice's stable name, as on the board
    stage_label: str
    received_at: datetime


def raise_objection(
    session: Session,
    *,
    env: Env,
    notice_id: int,
    reason: str,
    contact: str | None,
    now: datetime,
    on_fired: Callable[[TransitionRecord], None] | None = None,
) -> ObjectionReceipt:
    """异议: anyone, anonymous allowed, during a running notice; the case goes to objection_review."""
    notice = session.get(Notice, notice_id) if valid_id(notice_id) else None
    case = session.get(Case, notice.case_id) if notice is not None else None
    if notice is None or case is None or not notice.posted:
        raise NotFound("公示不存在或已结束 / no such notice is running")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("请写明异议理由 / give the reason for the objection")
    pending = case.data.get("objection") or {}
    joins_pending = case.state == OBJECTION_REVIEW and pending.get("notice_id") == notice.id
    if not is_running(notice, case, now) and not joins_pending:
        raise NotFound("公示不存在或已结束 / no such notice is running")
    assert case.id is not None
    assert notice.id is not None
    objection = Objection(
        receipt_code=codes.new_receipt_code(),
        notice_id=notice.id,
        case_id=case.id,
        stage=notice.state,
        reason=reason[:2000],
        contact_enc=env.cipher.encrypt(contact.strip()) if contact and contact.strip() else None,
        received_at=now,
    )
    session.add(objection)
    session.flush()
    act = {
        "notice_id": notice.id,
        "objection_id": objection.id,
        "reason": objection.reason,
        "contact_given": objection.contact_enc is not None,
    }
    if joins_pending:
        # A further objection to the notice already under review joins that review.
        auditlog.record(
            session,
            case=case,
            actor_name=PUBLIC.username,
            role=Role.PUBLIC,
            action=OBJECT,
            data=act,
            at=now,
        )
    else:
        decision = decide(env, case, PUBLIC, OBJECT)
        record = fire_act(session, env=env, case=case, decision=decision, data=act, version=case.version, now=now)
        if on_fired is not None:
            on_fired(record)
    return ObjectionReceipt(
        receipt_code=objection.receipt_code,
        reference=case.reference,
        stage=notice.stage,
        stage_label=notice.label,
        received_at=now,
    )


def objection_contact(session: Session, *, env: Env, actor: Actor, objection_id: int, now: datetime) -> str | None:
    """The objector's contact, for inspectors only (hidden from the township that handles it); the view is audited."""
    objection = session.get(Objection, objection_id) if valid_id(objection_id) else None
    case = session.get(Case, objection.case_id) if objection is not None else None
    if objection is None or case is None or Role.INSPECTOR not in actor.roles_on(case.region_code):
        raise NotFound(f"异议 {objection_id} 不存在 / objection {objection_id} not found")
    auditlog.record(
        session,
        case=case,
        actor_name=actor.username,
        role=Role.INSPECTOR,
        action="view_objection_contact",
        data={"objection_id": objection_id},
        at=now,
    )
    return env.cipher.decrypt(objection.contact_enc) if objection.contact_enc else None


def record_outcome(session: Session, env: Env, case: Case, record: TransitionRecord, now: datetime) -> None:
    """Dismissing or upholding an objection closes its open rows with the finding."""
    if record.action not in ("dismiss_objection", "uphold_objection"):
        return
    outcome = "dismissed" if record.action == "dismiss_objection" else "upheld"
    session.connection().execute(
        update(OBJECTIONS)
        .where(col(Objection.case_id) == case.id, col(Objection.outcome).is_(None))
        .values(outcome=outcome, finding=str(record.data.get("finding", "")), decided_by=record.actor, decided_at=now)
    )
