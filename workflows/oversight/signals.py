"""人情保 signals: patterns that favouritism leaves in the trail and the tables, each with its rule."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time
from statistics import median
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlmodel import Session

from engine.access import Actor, Role
from engine.calendar import SHANGHAI
from engine.queue import visible_clause
from engine.tables import RoleGrant, User
from workflows import emergency, review, standard
from workflows.base import AUDIT, CASES, LINES
from workflows.models import CaseIdentifier
from workflows.oversight.relatives import declared
from workflows.payments import last_paid_month
from workflows.spec import EmergencySpec

if TYPE_CHECKING:
    from workflows.env import Env

USERS = User.__table__.c  # type: ignore[attr-defined]
GRANTS = RoleGrant.__table__.c  # type: ignore[attr-defined]

RULES = {
    "declared_relative": "申请家庭成员是工作人员备案的近亲属 / "
    "a household member is an official's declared close relative",
    "shared_bank_account": "两户在办家庭使用同一银行账户 / two open households share one bank account",
    "shared_phone": "两户在办家庭留同一联系电话 / two open households give the same phone number",
    "shared_with_official": "在办家庭与工作人员留同一联系方式（电子邮箱），或工作人员本人是该户成员 / an open "
    "household gives an official's own contact (e-mail), or an official is one of its members",
    "two_stages": "同一人（同一账户，或身份证号相同的两个账户）在两个审核环节签批同一案件 / one person (one "
    "account, or two accounts with one identity number) acted at two stages of one case",
    "after_hours": "在工作时间以外（工作日 8:00–18:00 以外）作出审批决定 / a decision made outside working hours",
    "changed_after_approval": "批准后案件的保障金额被改动 / the amount of a case changed after approval",
    "paid_after_exit": "已退出的案件仍有发放 / a payment line for a month after the case exited",
    "grant_without_paperwork": "临时救助已发放，办结时手续内容为空 / an emergency grant moved on with empty paperwork",
    "fast_channel_share": "乡镇急难型救助占比远高于其他乡镇（超过中位数两倍）/ a township's fast-channel share is "
    "more than twice its peers' median",
}
CLOSED = frozenset({standard.REJECTED, standard.WITHDRAWN, review.EXITED, emergency.CLOSED, emergency.CONVERTED})
# The acts that decide a case at a stage: one person should not sign two of them.
STAGES = {"village_pass": "village", "township_pass": "township", "approve": "approval"}
DECISIONS = frozenset({*STAGES, "village_reject", "township_reject", "reject", "grant_emergency", "adjust"})
OFFICIAL_ROLES = frozenset({Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER})
WORKING_HOURS = (time(8, 0), time(18, 0))


class Signal:
    """One signal as the flags report lists it."""

    __slots__ = ("at", "case_id", "detail", "kind", "official", "reference", "region_code", "state")

    def __init__(
        self,
        kind: str,
        at: datetime,
        region_code: str,
        *,
        case_id: int | None = None,
        reference: str | None = None,
        state: str = "",
        official: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.kind, self.at, self.region_code = kind, at, region_code
        self.case_id, self.reference, self.state = case_id, reference, state
        self.official, self.detail = official, detail

    @classmethod
    def on(cls, kind: str, case: Any, *, official: str | None = None, detail: str | None = None) -> Signal:
        """A signal about one case (a row of `_cases`), dated by its last change."""
        return cls(
            kind,
            case.updated_at,
            case.region_code,
            case_id=int(case.id),
            reference=case.reference,
            state=case.state,
            official=official,
            detail=detail,
        )


def _cases(session: Session, actor: Actor) -> dict[int, Any]:
    rows = session.connection().execute(
        select(
            CASES.id,
            CASES.reference,
            CASES.region_code,
            CASES.township_code,
            CASES.state,
            CASES.workflow,
            CASES.updated_at,
            CASES.data,
        ).where(visible_clause(actor))
    )
    return {int(r[0]): r for r in rows}


def signals(session: Session, *, actor: Actor, env: Env | None = None) -> list[Signal]:
    """Every signal in the actor's scope."""
    cases = _cases(session, actor)
    found: list[Signal] = []
    found += _shared_identifiers(session, cases)
    found += _declared_relatives(session, cases)
    if env is not None:
        found += _shared_phones(env, cases)
    found += _shared_with_officials(session, cases, env)
    found += _trail_signals(session, cases, env)
    found += _paid_after_exit(session, cases, env)
    found += _grants_without_paperwork(cases)
    found += _fast_channel_share(session, cases)
    return found


def _open(case: Any) -> bool:
    return str(case.state) not in CLOSED


def _pairs(kind: str, groups: Iterable[list[int]], cases: dict[int, Any], what: str) -> list[Signal]:
    found = []
    for ids in groups:
        if len(ids) < 2:
            continue
        refs = "、".join(str(cases[i].reference) for i in ids)
        for i in ids:
            c = cases[i]
            found.append(
                Signal.on(
                    kind,
                    c,
                    detail=f"{what}：{refs} / {what} shared by {refs}",
                )
            )
    return found


def _shared_identifiers(session: Session, cases: dict[int, Any]) -> list[Signal]:
    rows = session.execute(
        select(CaseIdentifier.case_id, CaseIdentifier.lookup_hash).where(  # type: ignore[call-overload]
            CaseIdentifier.kind == "bank_account"
        )
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for case_id, hashed in rows:
        if case_id in cases and _open(cases[case_id]):
            groups[hashed].append(int(case_id))
    return _pairs("shared_bank_account", groups.values(), cases, "同一银行账户")


def _declared_relatives(session: Session, cases: dict[int, Any]) -> list[Signal]:
    """Applications whose applicant, members or supporters an official declared as a close relative;
    whether that official then acted on the case is said."""
    relatives = declared(session)
    if not relatives:
        return []
    rows = session.execute(
        select(CaseIdentifier.case_id, CaseIdentifier.lookup_hash).where(  # type: ignore[call-overload]
            CaseIdentifier.kind.in_(("applicant", "member", "supporter")),  # type: ignore[attr-defined]
            CaseIdentifier.lookup_hash.in_(sorted(relatives)),  # type: ignore[attr-defined]
        )
    )
    pairs = sorted({(int(case_id), official, relation) for case_id, h in rows for official, relation in relatives[h]})
    acted = {
        (int(case_id), str(who))
        for case_id, who in session.execute(
            select(AUDIT.case_id, AUDIT.actor).where(AUDIT.case_id.in_(sorted({p[0] for p in pairs})))
        )
    }
    found = []
    for case_id, official, relation in pairs:
        if case_id not in cases:
            continue
        c = cases[case_id]
        did = "，且经办了该案件 / and acted on the case" if (case_id, official) in acted else ""
        found.append(
            Signal.on(
                "declared_relative",
                c,
                official=official,
                detail=f"{official} 备案的{relation} / declared by {official} as {relation}{did}",
            )
        )
    return found


def _shared_phones(env: Env, cases: dict[int, Any]) -> list[Signal]:
    groups: dict[str, list[int]] = defaultdict(list)
    for case_id, case in cases.items():
        applicant = (case.data or {}).get("applicant") or {}
        phone = _contact(env, applicant, "phone")
        if phone and _open(case):
            groups[str(phone)].append(case_id)
    return _pairs("shared_phone", groups.values(), cases, "同一联系电话")


def _contact(env: Env, applicant: Mapping[str, Any], field: str) -> Any:
    """The applicant's phone or e-mail as given: encrypted on file (file_version 2) or plain (version 1)."""
    kept = applicant.get(f"{field}_enc")
    return env.cipher.decrypt(kept) if kept else applicant.get(field)


def _officials(session: Session) -> list[tuple[str, str | None, str | None]]:
    """Every official's account: (username, e-mail, identity hash). Officials keep no phone, bank account
    or address on file; their e-mail and identity number are what a household can share with them."""
    rows = session.execute(
        select(USERS.username, USERS.email, USERS.id_number_hash)
        .join(RoleGrant.__table__, GRANTS.user_id == USERS.id)  # type: ignore[attr-defined]
        .where(GRANTS.role.in_(sorted(OFFICIAL_ROLES | {Role.INSPECTOR, Role.ADMIN})))
        .distinct()
    )
    return [(str(name), email, hashed) for name, email, hashed in rows]


def _shared_with_officials(session: Session, cases: dict[int, Any], env: Env | None) -> list[Signal]:
    """An open household whose applicant gives an official's e-mail, or with an official among its members."""
    officials = _officials(session)
    by_email = {str(e).strip().lower(): name for name, e, _h in officials if e and str(e).strip()}
    by_id = {str(h): name for name, _e, h in officials if h}
    hits: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if env is not None and by_email:
        for case_id, case in cases.items():
            applicant = (case.data or {}).get("applicant") or {}
            email = _contact(env, applicant, "email")
            official = by_email.get(str(email or "").strip().lower())
            if official and _open(case):
                hits[case_id].append((official, "电子邮箱 / e-mail"))
    if by_id:
        rows = session.execute(
            select(CaseIdentifier.case_id, CaseIdentifier.lookup_hash).where(  # type: ignore[call-overload]
                CaseIdentifier.kind.in_(("applicant", "member")),  # type: ignore[attr-defined]
                CaseIdentifier.lookup_hash.in_(sorted(by_id)),  # type: ignore[attr-defined]
            )
        )
        for case_id, hashed in rows:
            if case_id in cases and _open(cases[case_id]):
                hits[int(case_id)].append((by_id[str(hashed)], "本人是该户成员 / is a member of the household"))
    found = []
    for case_id, shared in sorted(hits.items()):
        c = cases[case_id]
        for official, what in sorted(set(shared)):
            found.append(
                Signal.on(
                    "shared_with_official",
                    c,
                    official=official,
                    detail=f"{official}：{what}",
                )
            )
    return found


def _persons(session: Session) -> dict[str, str]:
    """Each account's person: its identity hash where one is on file, else the account itself."""
    rows = session.execute(select(USERS.username, USERS.id_number_hash))
    return {str(name): str(hashed) if hashed else f"user:{name}" for name, hashed in rows}


def _trail_signals(session: Session, cases: dict[int, Any], env: Env | None) -> list[Signal]:
    """Two stages signed by one person, decisions outside working hours, amounts changed after approval."""
    if not cases:
        return []
    rows = session.execute(
        select(AUDIT.case_id, AUDIT.at, AUDIT.actor, AUDIT.role, AUDIT.action, AUDIT.from_state, AUDIT.data)
        .where(AUDIT.case_id.in_(sorted(cases)), AUDIT.action.in_(sorted(DECISIONS)))
        .order_by(AUDIT.seq)
    )
    found: list[Signal] = []
    persons = _persons(session)
    # stages signed per (case, person), and by which accounts: two accounts of one person are one person
    stages: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    approved: set[int] = set()
    for case_id, at, who, role, action, state, raw in rows:
        c = cases[case_id]

        def add(kind: str, detail: str, *, at: datetime = at, who: str = who, state: str = state, c: Any = c) -> None:
            found.append(
                Signal(
                    kind,
                    at,
                    c.region_code,
                    case_id=c.id,
                    reference=c.reference,
                    state=state or "",
                    official=who,
                    detail=detail,
                )
            )

        if action in STAGES:
            signed = stages[(case_id, persons.get(who, f"user:{who}"))]
            signed.setdefault(STAGES[action], who)
            if len(signed) == 2:
                accounts = "、".join(sorted(set(signed.values())))
                add("two_stages", f"{accounts}: {'、'.join(sorted(signed))}")
        if role in OFFICIAL_ROLES and _outside_hours(at, env):
            local = at.astimezone(SHANGHAI)
            add("after_hours", f"{action} @ {local:%Y-%m-%d %H:%M}")
        patch = json.loads(raw).get("set") or {}
        if case_id in approved and "monthly_amount_fen" in patch:
            add("changed_after_approval", f"{action}: monthly_amount_fen → {patch['monthly_amount_fen']}")
        if action == "approve" or action == "grant_emergency":
            approved.add(case_id)
    return found


def _outside_hours(at: datetime, env: Env | None) -> bool:
    local = at.astimezone(SHANGHAI)
    workday = env.calendar.is_workday(local.date()) if env is not None else local.weekday() < 5
    return not workday or not WORKING_HOURS[0] <= local.time() < WORKING_HOURS[1]


def _paid_after_exit(session: Session, cases: dict[int, Any], env: Env | None) -> list[Signal]:
    """Lines for a month after the last one an exited case is paid (its exit's month, or after a
    voluntary exit the policy's months more: E7)."""
    last: dict[int, str] = {}
    for i, c in cases.items():
        exited = (c.data or {}).get("exited")
        if isinstance(exited, dict) and exited.get("at"):
            if env is not None:
                last[i] = last_paid_month(env, c.region_code, exited)
            else:
                left = datetime.fromisoformat(str(exited["at"])).astimezone(SHANGHAI)
                last[i] = f"{left.year:04d}-{left.month:02d}"
    if not last:
        return []
    found = []
    for line_id, case_id, month, amount in session.execute(
        select(LINES.c.id, LINES.c.case_id, LINES.c.month, LINES.c.amount_fen).where(LINES.c.case_id.in_(sorted(last)))
    ):
        if month > last[case_id]:
            c = cases[case_id]
            found.append(
                Signal.on(
                    "paid_after_exit",
                    c,
                    detail=f"发放明细 {line_id}：{month} {amount} 分 / line {line_id} for {month} after exit",
                )
            )
    return found


def _grants_without_paperwork(cases: dict[int, Any]) -> list[Signal]:
    found = []
    for c in cases.values():
        data = c.data or {}
        grant, paperwork = data.get("grant"), data.get("paperwork") or {}
        # Still awaiting paperwork is the clock's business (paperwork_overdue); past it, a note must say what came in.
        if isinstance(grant, dict) and c.state != emergency.PAID and not str(paperwork.get("note") or "").strip():
            found.append(
                Signal.on(
                    "grant_without_paperwork",
                    c,
                    official=str(grant.get("by") or "") or None,
                    detail=f"{grant.get('amount_fen')} 分 / fen",
                )
            )
    return found


def _fast_channel_share(session: Session, cases: dict[int, Any]) -> list[Signal]:
    """Townships whose share of emergency cases is over twice the median of the townships in scope."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    latest: dict[str, datetime] = {}
    for c in cases.values():
        totals[c.township_code][0] += int(c.workflow == EmergencySpec.key)
        totals[c.township_code][1] += 1
        latest[c.township_code] = max(latest.get(c.township_code, c.updated_at), c.updated_at)
    shares = {t: fast / all_ for t, (fast, all_) in totals.items() if all_}
    if len(shares) < 2:
        return []
    found = []
    for township, share in shares.items():
        peers = [s for t, s in shares.items() if t != township]
        middle = median(peers)
        if totals[township][0] >= 2 and share > 2 * middle:
            found.append(
                Signal(
                    "fast_channel_share",
                    latest[township],
                    township,
                    detail=f"{share:.0%}（其他乡镇中位数 {middle:.0%}）/ {share:.0%} against a median of {middle:.0%}",
                )
            )
    return found


def kinds() -> Sequence[str]:
    return tuple(RULES)
