"""Where a case stands, in plain words, for the household's tracking page and mail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine import auditlog
from engine.authorize import view
from engine.calendar import SHANGHAI, Unit, local_date
from engine.tables import AuditEntry, Case, TimerRow
from workflows import clocks, codes, emergency, standard
from workflows.base import aware, end_of_day
from workflows.models import (
    Notice,
    Objection,
)
from workflows.policy import Rules
from workflows.registry import spec_from_json
from workflows.spec import StandardSpec, TemporarySpec
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
    total = next((c for c in case_clocks(session, env, case, now) if c.clock == "total"), None)
    label = env.definition_for(case).label(case.state)
    return {
        "reference": case.reference,
        "state": case.state,
        "state_label": label.split(" / ")[-1] if en else label.split(" / ")[0],
        "status_text": where,
        "next_step": nxt,
        "deadline": deadline,
        "deadline_local": deadline.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if deadline else None,
        "deadline_provisional": step_provisional(env, case, deadline),
        "overall_deadline": total.due if total is not None else None,
        "overall_provisional": total is not None and total.provisional,
        "appeal": _appeal_window(d, env.rules(case.region_code, aware(case.updated_at)), _ended_badly(case)),
        "submitted_at": submitted_at(case),
        "updated_at": case.updated_at,
        "reason": reason,
    }


def submitted_at(case: Case) -> datetime | None:
    """When the household's application was submitted; a draft has not been."""
    submitted = case.data.get("submitted") or {}
    return datetime.fromisoformat(submitted["at"]) if submitted.get("at") else None


def find_by_tracking_code(session: Session, *, env: Env, code: str) -> Case | None:
    """The case a typed code tracks: a new-style code in any case and grouping, an older one as issued."""
    if not code or len(code) > 64:
        return None
    hashes = {env.cipher.lookup_hash(code)}
    normal = codes.normalise(code)
    if codes.is_new_style(normal):
        hashes.add(env.cipher.lookup_hash(normal))
    return session.exec(select(Case).where(col(Case.tracking_hash).in_(sorted(hashes)))).first()


def reissue_tracking_code(session: Session, *, case: Case, env: Env, actor: str, role: str, now: datetime) -> str:
    """A new code for a household that lost its receipt: only the hash is kept, so the old code
    stops working; the re-issue is on the case's trail."""
    code = codes.new_code()
    case.tracking_hash = env.cipher.lookup_hash(codes.normalise(code))
    session.add(case)
    auditlog.record(session, case=case, actor_name=actor, role=role, action="reissue_tracking_code", data={}, at=now)
    session.flush()
    return code


def find_objection(session: Session, code: str) -> Objection | None:
    """The objection a receipt code tracks (typed any which way for a new-style receipt)."""
    if not code or len(code) > 64:
        return None
    forms = {code.strip()}
    stored = codes.receipt_form(code)
    if stored is not None:
        forms.add(stored)
    return session.exec(select(Objection).where(col(Objection.receipt_code).in_(sorted(forms)))).first()


OBJECTION_STEPS = (
    ("received", "已收到", "Received"),
    ("review", "核查中", "Under review"),
    ("found", "已作出核查结论", "Finding made"),
)


def objection_status(objection: Objection, lang: str) -> dict[str, Any]:
    """An objection followed by its receipt: received, under review, the finding; never who objected."""
    en = lang == "en"
    found = objection.outcome is not None
    if objection.outcome == "upheld":
        words = "The objection was upheld: the listing is reviewed again" if en else "异议成立：该公示对象将重新审核"
    elif objection.outcome == "dismissed":
        words = "The objection was not upheld: the case continues" if en else "异议不成立：该申请继续办理"
    else:
        words = "The township is checking the objection" if en else "乡镇正在核查您提出的异议"
    return {
        "kind": "objection",
        "receipt_code": objection.receipt_code,
        "reference": None,
        "state": objection.outcome or "under_review",
        "state_label": words,
        "status_text": words,
        "next_step": ("Nothing further" if en else "无")
        if found
        else (
            "The township decides within its time limit and the finding is shown here"
            if en
            else "乡镇在规定期限内作出核查结论，结论将显示在本页"
        ),
        "finding": objection.finding if found else None,
        "received_at": aware(objection.received_at),
        "decided_at": aware(objection.decided_at) if objection.decided_at else None,
        "steps": _steps(OBJECTION_STEPS, 2 if found else 1, lang, finished=found),
    }


STANDARD_STEPS = (
    ("filed", "提交申请", "Application filed"),
    ("village", "村级入户调查、评议", "Village visit and review"),
    ("notice", "村级公示", "Village notice"),
    ("township", "乡镇审核", "Township check"),
    ("decision", "审批决定", "Decision"),
    ("paid", "按月发放", "Paid monthly"),
)
EMERGENCY_STEPS = (
    ("filed", "报告急难情况", "Emergency reported"),
    ("township", "乡镇处理", "Township handles it"),
    ("county", "县级审批（超出乡镇额度时）", "County decision (above the township's limit)"),
    ("paid", "发放救助金", "Aid paid"),
    ("notice", "事后公示", "Notice after the fact"),
    ("closed", "办结", "Closed"),
)
_STANDARD_AT = {
    "draft": 0,
    "village_review": 1,
    "awaiting_info": 1,
    "notice_village": 2,
    "objection_review": 2,
    "township_review": 3,
    "notice_township": 3,
    "township_approval": 4,
    "notice_final": 4,
}
_EMERGENCY_AT = {
    "draft": 0,
    "emergency_reported": 1,
    "county_emergency_approval": 2,
    "emergency_paid": 3,
    "notice_post": 4,
    "objection_review": 4,
    "recovery": 4,
    "closed": 5,
}
TEMPORARY_STEPS = (
    ("filed", "提交申请（乡镇受理）", "Application filed (accepted by the township)"),
    ("township", "乡镇入户调查", "Township investigation"),
    ("notice", "公示", "Notice"),
    ("decision", "审批决定（超出乡镇额度时报县级）", "Decision (by the county above the township's limit)"),
    ("paid", "发放救助金", "Aid paid"),
)
_TEMPORARY_AT = {
    "draft": 0,
    "temporary_review": 1,
    "notice_temporary": 2,
    "objection_review": 2,
    "township_approval": 3,
    "county_approval": 3,
    "granted": 4,
}
ENDED = frozenset({"rejected", "withdrawn", "exited", "closed", "converted", "granted"})
STOPPED = frozenset({"rejected", "withdrawn"})


def _stopped_in(session: Session, case: Case) -> str | None:
    """The state a refused or withdrawn case was in when it stopped, from its trail."""
    return session.exec(
        select(AuditEntry.from_state)
        .where(AuditEntry.case_id == case.id, AuditEntry.to_state == case.state)
        .order_by(col(AuditEntry.seq).desc())
    ).first()


def _steps(
    steps: tuple[tuple[str, str, str], ...], at: int, lang: str, *, finished: bool = False
) -> list[dict[str, Any]]:
    """Each step with its label in `lang`, done or the present one."""
    en = lang == "en"
    return [
        {
            "key": key,
            "label": en_label if en else zh,
            "done": i < at or (finished and i == at),
            "current": i == at and not finished,
        }
        for i, (key, zh, en_label) in enumerate(steps)
    ]


def household_view(session: Session, *, env: Env, case: Case, lang: str, now: datetime) -> dict[str, Any]:
    """The household's tracking page: the plain status, the steps, what is missing, the amount and
    the first payment month once approved, what emergency aid was paid, and the routes of appeal."""
    status = plain_status(session, env=env, case=case, lang=lang, now=now)
    if status.get("converted_from"):
        link = case.data.get("converted_to") or {}
        followed = session.get(Case, link["id"]) if isinstance(link.get("id"), int) else None
        case = followed or case
    d = case.data
    emergency_case = d.get("aid_type") == "emergency"
    temporary_case = case.workflow == "temporary"
    table, at_map = (
        (EMERGENCY_STEPS, _EMERGENCY_AT)
        if emergency_case
        else (TEMPORARY_STEPS, _TEMPORARY_AT)
        if temporary_case
        else (STANDARD_STEPS, _STANDARD_AT)
    )
    if emergency_case:
        steps = _steps(EMERGENCY_STEPS, _EMERGENCY_AT.get(case.state, 5), lang, finished=case.state == "closed")
    elif temporary_case:
        steps = _steps(TEMPORARY_STEPS, _TEMPORARY_AT.get(case.state, 4), lang, finished=case.state == "granted")
    else:
        at = _STANDARD_AT.get(case.state, 5)
        steps = _steps(STANDARD_STEPS, at, lang, finished=at == 5)
    if case.state in STOPPED:
        # Refused or withdrawn: the steps up to where it stopped are done, that one is marked, none after.
        stopped_at = at_map.get(_stopped_in(session, case) or "", 0)
        steps = [
            {**step, "current": False, "done": i < stopped_at, "stopped": i == stopped_at}
            for i, step in enumerate(_steps(table, stopped_at, lang))
        ]
    elif case.state in ENDED and case.state not in ("closed", "granted"):
        steps = [{**step, "current": False} for step in steps]
    info = d.get("info_request") if case.state == standard.AWAITING_INFO else None
    amount = d.get("monthly_amount_fen") if d.get("activated_at") else None
    grant = d.get("grant") or d.get("temporary_grant") or {}
    return {
        **status,
        "kind": "case",
        "aid_type": str(d.get("aid_type") or ""),
        "emergency": emergency_case,
        "steps": steps,
        "ended": case.state in ENDED,
        "missing": [str(m) for m in (info or {}).get("missing") or []],
        "missing_due": _day_or_none((info or {}).get("due")),
        "monthly_amount_fen": amount if isinstance(amount, int) else None,
        "first_payment_month": first_payment_month(env, case),
        "grant_fen": grant.get("amount_fen") if isinstance(grant.get("amount_fen"), int) else None,
        "grant_at": datetime.fromisoformat(grant["at"]) if grant.get("at") else None,
        "instalments": list(d.get("instalments") or []),  # granted temporary aid: the months it is paid in
    }


def _ended_badly(case: Case) -> bool:
    """Refused, or support ended against the household's will: told of its right of appeal."""
    return case.state == "rejected" or (
        case.state == "exited" and (case.data.get("exited") or {}).get("how") == "terminated"
    )


def _appeal_window(d: Mapping[str, Any], rules: Rules, ended_badly: bool) -> dict[str, Any] | None:
    """P12: the appeal window of the decision, approval as much as refusal, as its record carries it
    (decisions recorded before it did: the policy's)."""
    decision = d.get("refusal") if ended_badly else d.get("approval")
    if not ended_badly and not decision:
        return None
    recorded = decision.get("appeal") if isinstance(decision, Mapping) else None
    if isinstance(recorded, Mapping):
        return dict(recorded)
    return {
        "review_days": rules.appeal_review_days,
        "lawsuit_months": rules.appeal_lawsuit_months,
        "review_body": rules.appeal_review_body,
    }


def first_payment_month(env: Env, case: Case) -> date | None:
    """The first month paid (P10: the month after activation, as the policy says), once active."""
    activated = case.data.get("activated_at")
    if not activated:
        return None
    at = datetime.fromisoformat(str(activated))
    months = env.rules(case.region_code, at).payment_start_months
    first = local_date(at).replace(day=1)
    year, month = divmod(first.month - 1 + months, 12)
    return first.replace(year=first.year + year, month=month + 1)


def _day_or_none(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _step_unit(env: Env, case: Case) -> Unit | None:
    """How the present step's clock counts (working days make a deadline provisional beyond the notice)."""
    if case.state.startswith("notice_"):
        spec = spec_from_json(case.workflow, case.data["spec"])
        if isinstance(spec, StandardSpec):
            stages = spec.notices
        elif isinstance(spec, TemporarySpec):
            stages = (spec.notice,)
        else:
            stages = (spec.post_notice,)
        return next((n.unit for n in stages if n.state == case.state), None)
    if case.state == standard.AWAITING_INFO:
        return Unit.DAYS  # a named day
    if case.state == standard.VILLAGE_REVIEW and case.data.get("spec", {}).get("investigation") is None:
        delay = env.rules(case.region_code, aware(case.state_entered_at)).village_review
        return delay.unit if delay is not None else None
    deadline = env.definition_for(case).deadline_for(case.state)
    return deadline.delay(view(case)).unit if deadline is not None else None


def step_provisional(env: Env, case: Case, due: datetime | None) -> bool:
    """Whether the present step's deadline counts working days of a year whose holiday notice is not out."""
    if due is None or _step_unit(env, case) is not Unit.WORKING_DAYS:
        return False
    return env.calendar.is_provisional_span(aware(case.state_entered_at), due)


def case_clocks(session: Session, env: Env, case: Case, now: datetime) -> list[clocks.Clock]:
    """Every deadline the case runs against now: its present step's, the whole case's (P9) while it is
    undecided, and the delivery of a written refusal (P11) until it is recorded."""
    found: list[clocks.Clock] = []
    due = step_due(session, env, case)
    if due is not None:
        label = env.definition_for(case).label(case.state)
        found.append(clocks.Clock("step", label, due, step_provisional(env, case, due)))
    if case.workflow != StandardSpec.key:
        return found
    spec = spec_from_json(case.workflow, case.data["spec"])
    assert isinstance(spec, StandardSpec)
    in_notice = case.state.startswith("notice_")
    undecided = (case.state in standard.UNDECIDED or in_notice) and not case.data.get("approval")
    if spec.total is not None and undecided and case.state != standard.DRAFT:
        found.append(clocks.overall(view(case), env.calendar, spec.total, spec.total_extended, now))
    if spec.rejection_notice is not None and case.state == standard.REJECTED and not case.data.get("delivery"):
        entered = aware(case.state_entered_at)
        delivery = env.calendar.due(entered, spec.rejection_notice)
        label = "书面送达不予批准理由 / the written refusal delivered"
        found.append(clocks.Clock("delivery", label, delivery, env.calendar.is_provisional_span(entered, delivery)))
    return found
