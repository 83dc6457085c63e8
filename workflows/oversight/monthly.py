"""The monthly report (月通报): per township and for the county, what came in, what was decided, who is
supported and what was paid, by aid type and by cause. Every figure is counted from the trail, the
payment lines and the fund's entries."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select
from sqlmodel import Session

from engine.access import Actor, Role, covers, region_level
from engine.calendar import add_months
from engine.errors import NotFound
from engine.queue import scope_clause
from engine.tables import Region
from workflows import aidtypes, emergency, review, standard, temporary
from workflows.base import AUDIT, CASES, LINES
from workflows.models import FundEntry
from workflows.payments import month_start

FIGURES = (
    "received",
    "accepted",
    "approved",
    "refused",
    "withdrawn",
    "on_notice",
    "exited",
    "active_households",
    "active_persons",
    "paid_fen",
    "emergency_grants",
    "emergency_fen",
)
LABELS = {
    "received": "受理申请 / received",
    "accepted": "初审通过 / accepted",
    "approved": "批准 / approved",
    "refused": "不予批准 / refused",
    "withdrawn": "撤回 / withdrawn",
    "on_notice": "公示 / on notice",
    "exited": "退出 / exited",
    "active_households": "在保户数 / households supported",
    "active_persons": "在保人数 / persons supported",
    "paid_fen": "发放金额（分）/ paid (fen)",
    "emergency_grants": "临时救助次数 / emergency grants",
    "emergency_fen": "临时救助金额（分）/ emergency aid (fen)",
    "fund_deposits_fen": "备用金拨入（分）/ fund deposits (fen)",
    "fund_debits_fen": "备用金支出（分）/ fund spent (fen)",
}
# Causes of hardship as the 月通报 counts them; an emergency's own cause, else the household's members.
CAUSES = {
    "illness": "因病",
    "disability": "因残",
    "school": "因学",
    "disaster": "因灾",
    "accident": "因意外",
    "other": "其他",
}
_EMERGENCY_CAUSES = {
    "illness": "illness",
    "medical": "illness",
    "disability": "disability",
    "school": "school",
    "education": "school",
    "fire": "disaster",
    "flood": "disaster",
    "disaster": "disaster",
    "accident": "accident",
}
_FIRST_REVIEW = frozenset({standard.VILLAGE_REVIEW, emergency.REPORTED, temporary.REVIEW})
_NOT_ACCEPTED = frozenset({standard.DRAFT, standard.REJECTED, standard.WITHDRAWN, standard.AWAITING_INFO})
_FUND = FundEntry.__table__  # type: ignore[attr-defined]
_REGIONS = Region.__table__  # type: ignore[attr-defined]


class Figures(BaseModel):
    received: int = 0
    accepted: int = 0
    approved: int = 0
    refused: int = 0
    withdrawn: int = 0
    on_notice: int = 0
    exited: int = 0
    active_households: int = 0
    active_persons: int = 0
    paid_fen: int = 0
    emergency_grants: int = 0
    emergency_fen: int = 0

    def add(self, other: Figures) -> None:
        for name in FIGURES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class RegionFigures(Figures):
    region: str
    name: str
    fund_deposits_fen: int = 0
    fund_debits_fen: int = 0
    by_aid_type: dict[str, Figures] = Field(default_factory=dict)
    by_cause: dict[str, Figures] = Field(default_factory=dict)


class MonthlyReport(RegionFigures):
    """The 月通报 of a region for a month: its own figures, and each township's."""

    month: str
    townships: list[RegionFigures] = Field(default_factory=list)


def cause_of(data: Mapping[str, Any]) -> str:
    """The cause a case is counted under: an emergency's stated cause, or its members' illness or disability."""
    stated = data.get("cause")
    if isinstance(stated, str) and stated:
        return _EMERGENCY_CAUSES.get(stated, "other")
    members = data.get("members") or []
    if any(m.get("serious_illness") for m in members):
        return "illness"
    if any(m.get("severe_disability") or m.get("disability") for m in members):
        return "disability"
    return "other"


def _scope_check(session: Session, actor: Actor, region: str) -> Region:
    found = session.get(Region, region)
    reaches = actor.is_system or any(
        covers(g.region_code, region) for g in actor.grants if g.role not in (Role.APPLICANT, Role.PUBLIC)
    )
    if found is None or not reaches or region_level(region) not in ("village", "township", "county"):
        raise NotFound(f"地区 {region} 不存在或不在您的管辖范围内 / region {region} not found in your scope")
    return found


class _Tally:
    """Figures per township, aid type and cause, summed up at the end."""

    def __init__(self) -> None:
        self.cells: dict[tuple[str, str, str], Figures] = defaultdict(Figures)

    def add(self, township: str, case: Mapping[str, Any], figure: str, amount: int = 1) -> None:
        cell = self.cells[(township, str(case["aid_type"]), str(case["cause"]))]
        setattr(cell, figure, getattr(cell, figure) + amount)

    def region(self, code: str, name: str, townships: Iterable[str]) -> RegionFigures:
        wanted = set(townships)
        out = RegionFigures(region=code, name=name)
        out.by_aid_type = {a.key: Figures() for a in aidtypes.all()}
        out.by_cause = {c: Figures() for c in CAUSES}
        for (township, aid_type, cause), cell in self.cells.items():
            if township in wanted:
                out.add(cell)
                out.by_aid_type.setdefault(aid_type, Figures()).add(cell)
                out.by_cause.setdefault(cause, Figures()).add(cell)
        return out


def monthly_report(session: Session, *, actor: Actor, region: str, month: str) -> MonthlyReport:
    """The 月通报 of `region` (a county, township or village) for `month` (YYYY-MM, Shanghai time)."""
    place = _scope_check(session, actor, region)
    start = month_start(month)
    end = add_months(start, 1)
    conn = session.connection()
    cases: dict[int, dict[str, Any]] = {}
    for case_id, township, data in conn.execute(
        select(CASES.id, CASES.township_code, CASES.data).where(scope_clause(region))
    ):
        cases[int(case_id)] = {
            "township": township,
            "aid_type": data.get("aid_type") or "",
            "cause": cause_of(data),
            "persons": len(data.get("members") or []) or 1,
        }
    tally = _Tally()
    in_scope = select(CASES.id).where(scope_clause(region)).scalar_subquery()
    # A timer's act takes effect when it fell due (due_at), whenever the sweep recorded it (at).
    effective = func.coalesce(AUDIT.due_at, AUDIT.at)
    rows = conn.execute(
        select(AUDIT.case_id, AUDIT.action, AUDIT.from_state, AUDIT.to_state, AUDIT.data)
        .where(AUDIT.case_id.in_(in_scope), effective >= start, effective < end)
        .order_by(AUDIT.seq)
    )
    for case_id, action, before, after, raw in rows:
        case = cases[int(case_id)]
        township = case["township"]
        for figure, amount in _entry_figures(action, before, after, raw):
            tally.add(township, case, figure, amount)
    last = (
        select(AUDIT.case_id, func.max(AUDIT.seq).label("seq"))
        .where(AUDIT.case_id.in_(in_scope), effective < end)
        .group_by(AUDIT.case_id)
        .subquery()
    )
    standing = conn.execute(
        select(AUDIT.case_id, AUDIT.to_state).join(last, and_(AUDIT.seq == last.c.seq, AUDIT.case_id == last.c.case_id))
    )
    for case_id, state in standing:
        if state in review.PAID_STATES:
            case = cases[int(case_id)]
            tally.add(case["township"], case, "active_households")
            tally.add(case["township"], case, "active_persons", int(case["persons"]))
    for case_id, amount in conn.execute(
        select(LINES.c.case_id, LINES.c.amount_fen).where(LINES.c.month == month, LINES.c.case_id.in_(in_scope))
    ):
        case = cases[int(case_id)]
        tally.add(case["township"], case, "paid_fen", int(amount))
    townships = _townships(session, region)
    report = MonthlyReport(month=month, **tally.region(region, place.name, townships).model_dump())
    funds = _fund_use(session, region, start, end)
    report.fund_deposits_fen = sum(d for d, _ in funds.values())
    report.fund_debits_fen = sum(d for _, d in funds.values())
    if region_level(region) == "county":
        for code, name in townships.items():
            row = tally.region(code, name, [code])
            row.fund_deposits_fen, row.fund_debits_fen = funds.get(code, (0, 0))
            report.townships.append(row)
    return report


def _entry_figures(action: str, before: str | None, after: str | None, raw: str) -> list[tuple[str, int]]:
    """What one audit entry of the month counts towards."""
    moved = before != after
    found: list[tuple[str, int]] = []
    if after in _FIRST_REVIEW and before in (None, standard.DRAFT):
        found.append(("received", 1))
    if before in _FIRST_REVIEW and moved and after not in _NOT_ACCEPTED and action != "grant_emergency":
        found.append(("accepted", 1))
    data = json.loads(raw)
    if "activated_at" in (data.get("set") or {}) or action in ("grant_emergency", "grant_temporary"):
        found.append(("approved", 1))
    if action == "grant_emergency":
        found.append(("emergency_grants", 1))
        found.append(("emergency_fen", int((data.get("data") or {}).get("amount_fen") or 0)))
    if moved and after == standard.REJECTED:
        found.append(("refused", 1))
    if moved and after == standard.WITHDRAWN:
        found.append(("withdrawn", 1))
    if moved and after == review.EXITED:
        found.append(("exited", 1))
    if moved and after is not None and after.startswith("notice"):
        found.append(("on_notice", 1))
    return found


def _townships(session: Session, region: str) -> dict[str, str]:
    """The townships a report covers, by code, with their names."""
    level = region_level(region)
    if level == "county":
        rows = session.execute(
            select(_REGIONS.c.code, _REGIONS.c.name).where(_REGIONS.c.parent_code == region).order_by(_REGIONS.c.code)
        )
        return {str(code): str(name) for code, name in rows}
    township = region[:9] + "000"
    found = session.get(Region, township)
    return {township: found.name if found is not None else township}


def _fund_use(session: Session, region: str, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    """Deposits and grants' debits of the month, per fund account in the region (township or county)."""
    level = region_level(region)
    if level == "village":
        return {}
    prefix = region[:9] if level == "township" else region[:6]
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = session.execute(
        select(_FUND.c.account_code, _FUND.c.kind, func.sum(_FUND.c.amount_fen))
        .where(_FUND.c.account_code.like(prefix + "%"), _FUND.c.at >= start, _FUND.c.at < end)
        .group_by(_FUND.c.account_code, _FUND.c.kind)
    )
    for account, kind, total in rows:
        found[str(account)][0 if kind == "deposit" else 1] += int(total or 0)
    return {account: (d, s) for account, (d, s) in found.items()}


def monthly_xlsx(report: MonthlyReport) -> bytes:
    """The 月通报 as an Excel workbook: the townships and the total, then by aid type, then by cause."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "月通报"
    extra = ("fund_deposits_fen", "fund_debits_fen")
    sheet.append([f"{report.name} {report.month} 月通报 / monthly report"])
    sheet.append(["地区 / region", "代码 / code", *(LABELS[f] for f in (*FIGURES, *extra))])
    for row in [*report.townships, report]:
        label = "合计 / total" if row is report else row.name
        sheet.append([label, row.region, *(getattr(row, f) for f in (*FIGURES, *extra))])
    for title, groups, names in (
        ("按救助类型 by aid type", report.by_aid_type, {a.key: a.name_zh for a in aidtypes.all()}),
        ("按致贫原因 by cause", report.by_cause, CAUSES),
    ):
        page = book.create_sheet(title[:31])
        page.append(["", "", *(LABELS[f] for f in FIGURES)])
        for key, figures in groups.items():
            page.append([names.get(key, key), key, *(getattr(figures, f) for f in FIGURES)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
