"""Inspectors' reports: missed clocks, refused attempts, filed relatives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select as core_select
from sqlmodel import Session

from engine.access import Actor, Role, region_prefix
from engine.calendar import SHANGHAI
from engine.queue import visible_clause
from engine.tables import AuditEntry, Case
from workflows import standard
from workflows.base import AUDIT, CASES, FLAG_ACTIONS
from workflows.oversight.signals import RULES, signals
from workflows.oversight.supervision import late_filings

if TYPE_CHECKING:
    from workflows.env import Env

_HOLDING_ROLES = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER)
FLAG_RULES = {
    "overdue": "办理超过法定时限 / a step was not taken within its time limit",
    "total_overdue": "受理后未在办结时限内作出决定（P9）/ not decided within the time limit from acceptance (P9)",
    "refusal_undelivered": "不予批准理由未按时书面送达（P11）/ a refusal's written reasons not delivered in time (P11)",
    "refused_attempt": "工作人员的操作因回避或职责分离被拒绝 / "
    "an official was refused for recusal or separation of duties",
    "filed_relative": "申请家庭中有工作人员的近亲属 / the household has an official among its close relatives",
    "filing_late": "乡镇审批决定未在规定工作日内报县备案 / a delegated decision was not filed with the county in time",
    "unclaimed": "发放连续多月失败且未领取，保障已由发放程序终止（D3）/ payments failed and went unclaimed for the "
    "policy's months in a row: the payment run ended support (D3)",
    **RULES,
}


class FlagOut(BaseModel):
    application_id: int | None  # None for a refused filing: no case was opened
    reference: str | None
    kind: str
    state: str
    at: datetime
    region_code: str
    official: str | None = None  # who was refused, who must recuse, who held the case when a clock ran out
    detail: str | None = None  # what was attempted, and why it was refused
    rule: str | None = None  # the rule the flag is raised under, in words


class FlagFilter(BaseModel):
    """What an inspector narrows the flags to; every field optional."""

    kind: str | None = None
    region: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    official: str | None = None

    def keeps(self, flag: FlagOut) -> bool:
        return (
            (self.kind is None or flag.kind == self.kind)
            and (self.region is None or flag.region_code.startswith(region_prefix(self.region)))
            and (self.since is None or flag.at >= self.since)
            and (self.until is None or flag.at < self.until)
            and (self.official is None or flag.official == self.official)
        )


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


def integrity_flags(
    session: Session,
    *,
    actor: Actor,
    env: Env | None = None,
    only: FlagFilter | None = None,
    now: datetime | None = None,
) -> list[FlagOut]:
    """What an inspector looks at first, in the actor's scope, newest first: missed clocks (as
    `overdue_flags`), officials refused for recusal or separation of duties (`refused_attempt`),
    cases with an official among the household's relatives (`filed_relative`), and the 人情保 signals
    of workflows.oversight.signals, each with its rule."""
    found = overdue_flags(session, actor=actor)
    for case_id, action, state, at, reference, region, who, raw in _flag_rows(session, actor, ("refused", "recusal")):
        found.append(_entry_flag(action, state, at, region, who, raw, case_id, reference))
    found += _refused_filings(session, actor)
    for filing, due in late_filings(session, actor=actor, now=now):
        filed = filing.filed_at.isoformat() if filing.filed_at else "—"
        found.append(
            FlagOut(
                application_id=filing.application_id,
                reference=filing.reference,
                kind="filing_late",
                state=filing.decision,
                at=due,
                region_code=filing.region_code,
                official=filing.filed_by or filing.decided_by,
                detail=f"备案期限 / due {due.isoformat()}; 报备 / filed {filed}",
                rule=FLAG_RULES["filing_late"],
            )
        )
    for s in signals(session, actor=actor, env=env):
        found.append(
            FlagOut(
                application_id=s.case_id,
                reference=s.reference,
                kind=s.kind,
                state=s.state,
                at=s.at,
                region_code=s.region_code,
                official=s.official,
                detail=s.detail,
                rule=RULES[s.kind],
            )
        )
    if only is not None:
        found = [f for f in found if only.keeps(f)]
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
    rule = FLAG_RULES[kind]
    return FlagOut(
        application_id=case_id,
        reference=reference,
        kind=kind,
        state=state or "",
        at=at,
        region_code=region,
        official=official,
        detail=detail,
        rule=rule,
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
    rows = [r[:6] for r in _flag_rows(session, actor, (*FLAG_ACTIONS, "end_unclaimed"))]
    holders = _holders(session, {int(r[0]) for r in rows if r[0] is not None})
    kinds = {
        "flag_paperwork_overdue": "paperwork_overdue",
        "flag_first_aid_overdue": "first_aid_overdue",
        "flag_suspension_long": "suspended_too_long",
        "flag_total_overdue": standard.TOTAL_OVERDUE,
        "flag_undelivered": standard.UNDELIVERED,
        "flag_verification_overdue": "verification_overdue",
        "flag_temporary_overdue": "temporary_overdue",
    }
    found = []
    for case_id, action, state, at, reference, region in rows:
        if action == "end_unclaimed":
            found.append(
                FlagOut(
                    application_id=case_id,
                    reference=reference,
                    kind="unclaimed",
                    state=state or "",
                    at=at,
                    region_code=region,
                    official=_holder_at(holders.get(case_id, []), at),
                    detail="连续未领取，已终止保障 / unclaimed months in a row: support ended",
                    rule=FLAG_RULES["unclaimed"],
                )
            )
            continue
        kind = kinds.get(action) or standard.OVERDUE_KINDS.get(state or "", "overdue")
        found.append(
            FlagOut(
                application_id=case_id,
                reference=reference,
                kind=kind,
                state=state or "",
                at=at,
                region_code=region,
                official=_holder_at(holders.get(case_id, []), at),
                detail=f"{state} 超过期限 / {state} past its deadline",
                rule=FLAG_RULES.get(kind, FLAG_RULES["overdue"]),
            )
        )
    return found


def _holders(session: Session, case_ids: set[int]) -> dict[int, list[tuple[datetime, str]]]:
    """Who acted on each case, in order: the officials (not the system, the public or the applicant)."""
    found: dict[int, list[tuple[datetime, str]]] = {}
    if not case_ids:
        return found
    rows = session.connection().execute(
        core_select(AUDIT.case_id, AUDIT.at, AUDIT.actor)
        .where(AUDIT.case_id.in_(sorted(case_ids)), AUDIT.role.in_(_HOLDING_ROLES))
        .order_by(AUDIT.seq)
    )
    for case_id, at, who in rows:
        found.setdefault(int(case_id), []).append((at, str(who)))
    return found


def _holder_at(acts: list[tuple[datetime, str]], at: datetime) -> str | None:
    """The official who last acted on the case before its clock ran out: the one who held it."""
    before = [who for when, who in acts if when <= at]
    return before[-1] if before else (acts[0][1] if acts else None)


def flags_xlsx(flags: Sequence[FlagOut]) -> bytes:
    """The flags as an Excel sheet, the rule written beside each."""
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "问题线索"
    sheet.append(
        [
            "类别 / kind",
            "规则 / rule",
            "案件 / reference",
            "状态 / state",
            "时间 / at",
            "地区 / region",
            "工作人员 / official",
            "说明 / detail",
        ]
    )
    for f in flags:
        at = f.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        sheet.append([f.kind, f.rule, f.reference, f.state, at, f.region_code, f.official, f.detail])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
