"""Use cases behind the routes: each takes the unit of work's session and does one thing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlmodel import Session

from api.schemas import ActionIn, ApplicationOut, ApplicationSummary, AuditOut, ClockOut, QueueOut, VerifyOut
from engine import auditlog
from engine.access import Actor, Role, valid_region_code
from engine.auditlog import Checkpoint, verify_log
from engine.authorize import Decision, available_actions, load_case, roles_on_case
from engine.database import Database
from engine.errors import InvalidInput, RoleNotPermitted
from engine.queue import (
    Cursor,
    actionable_states,
    data_equals,
    queue_page,
    scope_clause,
    visible_clause,
    visible_page,
)
from engine.runtime import TransitionRecord
from engine.secrets import valid_id_number
from engine.tables import AuditEntry, Case, utcnow
from engine.timers import SweepResult, run_due
from notifications.messages import on_transition
from workflows.acting import authorize_act, carry_out
from workflows.applications import submit_application
from workflows.casefile_view import case_details
from workflows.env import Env
from workflows.facts import actor_facts, same_person
from workflows.links import after_timer
from workflows.models import CaseIdentifier
from workflows.objections import ObjectionReceipt, raise_objection
from workflows.oversight.live import verify_live
from workflows.oversight.supervision import tasks_waiting
from workflows.schemas import ApplicationIn
from workflows.tasks import linked_cases, task_counts, task_judge
from workflows.tracking import case_clocks, step_due, step_provisional

M = TypeVar("M", bound=BaseModel)

# Roles that see identity numbers and bank accounts unmasked: those who verify and decide,
# and those who inspect. Each such view is itself an audit entry.
REVEAL_ROLES = frozenset({Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.INSPECTOR})
# Entries that record someone reading the case, not a step of it: kept out of the case's `history`
# (an inspection must not tip off the household or the officials inspected), shown on /audit.
READS = frozenset({"view_case", "view_objection_contact"})
_audit_table = AuditEntry.__table__  # type: ignore[attr-defined]
_audit = _audit_table.c


def audit_rows(session: Session, case_id: int) -> list[AuditOut]:
    rows = session.execute(select(_audit_table).where(_audit.case_id == case_id).order_by(_audit.seq)).all()
    return [
        AuditOut(
            seq=r.seq,
            at=r.at,
            actor=r.actor,
            role=r.role,
            action=r.action,
            from_state=r.from_state,
            to_state=r.to_state,
            data=json.loads(r.data),
            due_at=r.due_at,
            hash=r.hash,
        )
        for r in rows
    ]


def application_view(
    session: Session,
    env: Env,
    actor: Actor,
    case: Case,
    now: datetime,
    *,
    tracking_code: str | None = None,
    record_view: bool = True,
) -> ApplicationOut:
    """The case as the caller may see it.

    A read of stored personal data is an audit entry; the answer to the caller's own act (create,
    action) is not a separate read, since the act's entry already names them.
    """
    assert case.id is not None
    roles = roles_on_case(actor, case)
    reveal = bool(roles & REVEAL_ROLES)
    definition = env.definition_for(case)
    details = case_details(session, env=env, case=case, reveal=reveal)
    if record_view:
        auditlog.record(
            session,
            case=case,
            actor_name=actor.username,
            role=_primary(roles),
            action="view_case",
            data={"personal_data": "unmasked" if reveal else "masked"},
            at=now,
        )
    clocks = case_clocks(session, env, case, now)
    return ApplicationOut(
        **summary(session, env, case).model_dump(),
        workflow_version=case.workflow_version,
        actions=available_actions(
            definition, case, actor, now=now, facts=actor_facts(session, env=env, case=case, actor=actor, now=now)
        ),
        created_at=case.created_at,
        details=details,
        history=[e for e in audit_rows(session, case.id) if e.action not in READS],
        tracking_code=tracking_code,
        overall_deadline=next((c.due for c in clocks if c.clock == "total"), None),
        deadlines=[ClockOut(**asdict(c)) for c in clocks],
    )


def _primary(roles: frozenset[str]) -> str:
    for role in (
        Role.INSPECTOR,
        Role.COUNTY_OFFICER,
        Role.TOWNSHIP_OFFICER,
        Role.VILLAGE_OFFICER,
        Role.ADMIN,
        Role.APPLICANT,
    ):
        if role in roles:
            return role
    return "unknown"


class ActRequest(NamedTuple):
    """An act as the request asks it: the case found once, the verdict on it, the parsed body."""

    case: Case
    decision: Decision
    body: ActionIn


def parse_action(session: Session, env: Env, actor: Actor, case_id: int, action: str, body: bytes) -> ActRequest:
    """Judge scope (404), role (403) and state (409) once, before the body is read, as the contract orders."""
    case = load_case(session, case_id, actor)
    decision = authorize_act(env, case, actor, action)
    if len(body) == 0:
        raise InvalidInput("请求体为空，需提供 version / empty body: 'version' is required")
    return ActRequest(case, decision, _parsed(ActionIn, body))


def _parsed(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise InvalidInput(f"请求内容无效 / invalid request: {problems}") from exc


def _problem(error: Any) -> str:
    """One validation error as `where: what`; our own messages (Chinese / English) without pydantic's prefix."""
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {message}" if where else message


FILING_ROLES = frozenset({Role.APPLICANT, Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER})


def create(session: Session, env: Env, actor: Actor, body: bytes, now: datetime) -> ApplicationOut:
    """File an application (submitted at once unless a draft); the receipt carries the tracking code.

    A role that never files is refused (403) before the body is read; a body that does not parse is
    422; a village outside the officer's scope is 404."""
    if not any(actor.has_role(role) for role in FILING_ROLES):
        raise RoleNotPermitted("您的角色不能提交申请 / your role may not submit applications")
    payload = _parsed(ApplicationIn, body)
    submitted = submit_application(session, env=env, actor=actor, payload=payload, now=now)
    if submitted.record is not None:
        notify(session, env, submitted.record)
    return application_view(
        session, env, actor, submitted.case, now, tracking_code=submitted.tracking_code, record_view=False
    )


def act(
    session: Session, env: Env, actor: Actor, *, case_id: int, action: str, body: bytes, now: datetime
) -> ApplicationOut:
    """Check, parse, fire, queue the notifications, answer with the case as it now stands."""
    request = parse_action(session, env, actor, case_id, action, body)
    record = carry_out(
        session,
        env=env,
        case=request.case,
        decision=request.decision,
        version=request.body.version,
        data=request.body.data,
        comment=request.body.comment,
        now=now,
    )
    notify(session, env, record)
    return application_view(session, env, actor, request.case, now, record_view=False)


def object_to(
    session: Session, env: Env, *, notice_id: int, reason: str, contact: str | None, now: datetime
) -> ObjectionReceipt:
    """An objection from the public; the officials who must review it hear of it."""
    return raise_objection(
        session,
        env=env,
        notice_id=notice_id,
        reason=reason,
        contact=contact,
        now=now,
        on_fired=lambda record: notify(session, env, record),
    )


def notify(session: Session, env: Env, record: TransitionRecord) -> None:
    """Hand a transition to notifications, which decides who hears of it (in the same transaction)."""
    on_transition(session, env, record)


def case_audit(session: Session, actor: Actor, case_id: int) -> list[AuditOut]:
    case = load_case(session, case_id, actor)
    if roles_on_case(actor, case) <= {Role.APPLICANT}:
        raise RoleNotPermitted("审计记录仅供工作人员和纪检监察查阅 / the audit trail is for officials and inspectors")
    assert case.id is not None
    return audit_rows(session, case.id)


def summary(session: Session, env: Env, case: Case) -> ApplicationSummary:
    assert case.id is not None
    due = step_due(session, env, case)
    return ApplicationSummary(
        id=case.id,
        reference=case.reference,
        workflow=case.workflow,
        state=case.state,
        state_label=env.definition_for(case).label(case.state),
        version=case.version,
        village=case.region_code,
        deadline=due,
        deadline_provisional=step_provisional(env, case, due),
        updated_at=case.updated_at,
    )


@dataclass(frozen=True)
class QueueFilter:
    """Narrows the queue's rows to one village, one state, one aid type (the counts stay whole)."""

    village: str | None = None
    state: str | None = None
    aid_type: str | None = None


@dataclass(frozen=True)
class QueuePage:
    cases: list[Case]
    next_cursor: str | None
    counts: dict[str, int]


def queue_cases(
    session: Session,
    env: Env,
    actor: Actor,
    *,
    limit: int,
    cursor: str | None,
    now: datetime,
    only: QueueFilter = QueueFilter(),
) -> QueuePage:
    """The cases the actor can act on now, dated work soonest first, then undated work; and how many
    of them wait in each state. The index finds those in a state their role acts in; the guards
    that judge the person (recusal, separation of duties) drop the rest, from the rows and the counts
    alike."""
    after = _cursor(cursor)
    definitions = env.definitions()
    states = actionable_states(definitions)
    narrow = []
    if only.village:
        if not valid_region_code(only.village):
            raise InvalidInput("村代码无效 / invalid village code")
        narrow.append(scope_clause(only.village))
    if only.state:
        narrow.append(Case.__table__.c.state == only.state)  # type: ignore[attr-defined]
    if only.aid_type:
        narrow.append(data_equals("aid_type", only.aid_type))

    same = same_person(session, actor)
    linked = linked_cases(session, actor, same, states)
    keep = task_judge(session, env, actor, now, same=same, linked=linked, definitions=definitions)
    cases, nxt = queue_page(session, actor, states, limit=limit, after=after, keep=keep, narrow=narrow)
    return QueuePage(
        cases=list(cases),
        next_cursor=nxt.encode() if nxt else None,
        counts=task_counts(session, env, actor, states, now, same=same, definitions=definitions, linked=linked),
    )


def queue(
    session: Session,
    env: Env,
    actor: Actor,
    *,
    limit: int,
    cursor: str | None,
    now: datetime,
    only: QueueFilter = QueueFilter(),
) -> QueueOut:
    """The actor's queue as the API gives it."""
    page = queue_cases(session, env, actor, limit=limit, cursor=cursor, now=now, only=only)
    return QueueOut(
        items=[summary(session, env, c) for c in page.cases],
        next_cursor=page.next_cursor,
        counts=page.counts,
        supervision_tasks=tasks_waiting(session, actor=actor),
    )


def list_cases(
    session: Session, env: Env, actor: Actor, *, limit: int, after: int | None, state: str | None
) -> tuple[list[ApplicationSummary], int | None]:
    cases, nxt = visible_page(session, actor, limit=limit, after_id=after, state=state)
    return [summary(session, env, c) for c in cases], nxt


def _cursor(token: str | None) -> Cursor | None:
    if not token:
        return None
    try:
        return Cursor.decode(token)
    except (ValueError, TypeError, IndexError, json.JSONDecodeError) as exc:
        raise InvalidInput("分页游标无效 / invalid cursor") from exc


def verify(session: Session, checkpoint: Checkpoint | None = None) -> VerifyOut:
    verdict = verify_log(session, checkpoint)
    # `entries` counts the log as stored; on a broken chain the verifier stopped at `first_bad`.
    entries = (
        verdict.entries if verdict.ok else session.execute(select(func.count()).select_from(_audit_table)).scalar_one()
    )
    live = verify_live(session)
    return VerifyOut(
        ok=verdict.ok and live.ok,
        entries=entries,
        head=verdict.head,
        first_bad=verdict.first_bad,
        why=verdict.why,
        cases_bad=live.cases_bad,
        payment_lines_bad=live.payment_lines_bad,
        fund_entries_bad=live.fund_entries_bad,
        funds_bad=live.funds_bad,
        live_why=live.why,
    )


def run_timers(db: Database, moment: datetime, env: Env, *, clock: Callable[[], datetime] = utcnow) -> SweepResult:
    """Sweep the timers due by `moment` (one transaction per timer); each fired transition drops the
    case's person links if it closed the case and is handed to notifications, in that same transaction.
    `clock` stamps the audit entries."""

    def fired(session: Session, record: TransitionRecord) -> None:
        after_timer(session, env, record)
        notify(session, env, record)

    return run_due(db.session, now=moment, resolve=env.resolve, on_fired=fired, clock=clock)


# A name search reads the caller's visible cases page by page, newest first, and stops after this many.
NAME_SEARCH_SCAN = 2000


@dataclass(frozen=True)
class Found:
    """Cases a search found, newest first; `more` when the scan stopped before the end of the scope."""

    cases: list[Case]
    more: bool


def search_cases(session: Session, env: Env, actor: Actor, text: str, *, limit: int = 50) -> Found:
    """The caller's visible cases whose household holds this identity number (through its keyed hash,
    never by decrypting), or whose applicant or a member's name contains `text` (a bounded scan)."""
    text = text.strip()
    if not text:
        return Found([], False)
    if valid_id_number(text.upper()):
        rows = session.scalars(
            select(Case)
            .where(
                visible_clause(actor),
                Case.__table__.c.id.in_(  # type: ignore[attr-defined]
                    select(CaseIdentifier.__table__.c.case_id).where(  # type: ignore[attr-defined]
                        CaseIdentifier.__table__.c.lookup_hash == env.cipher.lookup_hash(text)  # type: ignore[attr-defined]
                    )
                ),
            )
            .order_by(Case.__table__.c.id.desc())  # type: ignore[attr-defined]
            .limit(limit + 1)
        ).all()
        return Found(list(rows[:limit]), len(rows) > limit)
    wanted = text.casefold()
    found: list[Case] = []
    after: int | None = None
    scanned = 0
    while scanned < NAME_SEARCH_SCAN:
        cases, after = visible_page(session, actor, limit=200, after_id=after)
        scanned += len(cases)
        for case in cases:
            name = str((case.data.get("applicant") or {}).get("name") or "")
            members = [str(m.get("name") or "") for m in case.data.get("members") or []]
            if any(wanted in n.casefold() for n in [name, *members] if n):
                found.append(case)
                if len(found) >= limit:
                    return Found(found, True)
        if after is None:
            return Found(found, False)
    return Found(found, True)
