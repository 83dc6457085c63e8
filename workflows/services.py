"""Use cases of the aid domain: apply, act, object, post notices, fund, pay. Each works in the caller's
transaction (it flushes; the caller commits) and fires transitions only through engine.runtime."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, and_, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import PUBLIC, Actor, Role, covers, region_level
from engine.calendar import SHANGHAI, WorkCalendar, add_months, local_date
from engine.definition import WorkflowDefinition
from engine.errors import (
    Attempt,
    Conflict,
    GuardRejected,
    InvalidInput,
    NotFound,
    RoleNotPermitted,
    TransitionNotAllowed,
)
from engine.queue import visible_clause
from engine.runtime import (
    TransitionRecord,
    acting_role,
    can_see,
    create_case,
    fire,
    load_case,
    roles_on_case,
    valid_id,
)
from engine.secrets import FieldCipher, mask_account, mask_id_number, mask_name, valid_id_number
from engine.store import AuditEntry, Case, Region, RoleGrant, TimerRow, User
from workflows import emergency, registry, review, standard
from workflows.common import OBJECT, OBJECTION_REVIEW
from workflows.guards import household_income, members
from workflows.models import (
    CaseIdentifier,
    EmergencyGrant,
    Fund,
    FundEntry,
    Notice,
    Objection,
    PaymentLine,
    ReferenceCounter,
)
from workflows.policy import NoticeStage, Policy, Rules
from workflows.schemas import ACTION_DATA, FEN_LIMIT, ActionData, ApplicationIn
from workflows.spec import EmergencySpec, StandardSpec
from workflows.texts import plain, reason_for

_PREFIX = {"dibao": "DB", "tekun": "TK", "emergency": "LS"}
_OFFICER_ROLES = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER)
FLAG_ACTIONS = ("flag_overdue", "flag_paperwork_overdue", "flag_first_aid_overdue", "flag_suspension_long")
_cases = Case.__table__.c  # type: ignore[attr-defined]
_funds = Fund.__table__  # type: ignore[attr-defined]
_lines = PaymentLine.__table__  # type: ignore[attr-defined]
_counters = ReferenceCounter.__table__  # type: ignore[attr-defined]
_audit = AuditEntry.__table__.c  # type: ignore[attr-defined]
_objections = Objection.__table__  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class Env:
    """The policy and the field cipher, loaded once per process (or per rehearsal)."""

    policy: Policy
    cipher: FieldCipher
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    @classmethod
    def load(cls, policy_path: str | None, secret_key: str) -> Env:
        mtime = Path(policy_path).stat().st_mtime_ns if policy_path and os.path.exists(policy_path) else 0
        return _load(policy_path or None, secret_key, mtime)

    @classmethod
    def of(cls, policy: Policy, secret_key: str) -> Env:
        return cls(policy=policy, cipher=FieldCipher(secret_key), calendar=policy.calendar())

    def rules(self, region_code: str, at: datetime) -> Rules:
        return self.policy.rules(region_code, local_date(at))

    def definition_for(self, case: Case) -> WorkflowDefinition:
        return registry.definition_for(case)

    def definitions(self) -> list[WorkflowDefinition]:
        """Every definition the policy yields, and any older one a running case was seen on."""
        found = {**registry.definitions_of(self.policy), **registry.known()}
        return list(found.values())

    def resolve(self, session: Session, case: Case) -> tuple[WorkflowDefinition, WorkCalendar, Mapping[str, Any]]:
        """For the timer sweep: the case's definition, the calendar, the facts its guards read."""
        return self.definition_for(case), self.calendar, {"rules": self.rules(case.region_code, case.updated_at)}


@lru_cache(maxsize=8)
def _load(policy_path: str | None, secret_key: str, _mtime: int) -> Env:
    return Env.of(Policy.load(policy_path), secret_key)


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Submitted:
    case: Case
    tracking_code: str
    record: TransitionRecord | None = None  # the submit transition; None for a draft


class ObjectionReceipt(BaseModel):
    receipt_code: str
    reference: str
    stage: str  # the notice's stable name, as on the board
    stage_label: str
    received_at: datetime


class NoticeOut(BaseModel):
    id: int
    reference: str
    name: str
    village: str  # the village's name, as the board shows it
    village_code: str  # its 12-digit code, as applications name it
    household_size: int
    aid_type: str
    amount_fen: int | None
    stage: str  # village, township, final, post or termination: a name that never changes
    stage_label: str  # what the board shows, 初榜 / first notice
    starts: datetime
    ends: datetime


class PaymentRunResult(BaseModel):
    month: str
    created: int
    already: int
    total_fen: int


class PaymentLineOut(BaseModel):
    application_id: int
    month: str
    amount_fen: int
    status: str


class FlagOut(BaseModel):
    application_id: int | None  # None for a refused filing: no case was opened
    reference: str | None
    kind: str
    state: str
    at: datetime
    region_code: str
    official: str | None = None  # who was refused, or who must recuse
    detail: str | None = None  # what was attempted, and why it was refused


# --------------------------------------------------------------------------- helpers


def _insert(conn: Connection, table: Any) -> Any:
    """An INSERT that can skip rows already present (ON CONFLICT DO NOTHING) on either database."""
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def _role_of(actor: Actor) -> str:
    return actor.grants[0].role if actor.grants else Role.SYSTEM


def _next_reference(session: Session, aid_type: str, now: datetime) -> str:
    key = f"{_PREFIX[aid_type]}-{local_date(now).year}"
    conn = session.connection()
    conn.execute(_insert(conn, _counters).values(key=key, last=0).on_conflict_do_nothing(index_elements=["key"]))
    last = conn.execute(core_select(_counters.c.last).where(_counters.c.key == key).with_for_update()).scalar_one()
    conn.execute(update(_counters).where(_counters.c.key == key).values(last=last + 1))
    return f"{key}-{last + 1:06d}"


def _person(env: Env, name: str, id_number: str) -> dict[str, Any]:
    return {"name": name, "id_enc": env.cipher.encrypt(id_number), "id_hash": env.cipher.lookup_hash(id_number)}


def _spec_of(case: Case) -> StandardSpec | EmergencySpec:
    return registry.spec_from_json(case.workflow, case.data["spec"])


def _notice_stages(case: Case) -> dict[str, NoticeStage]:
    spec = _spec_of(case)
    if isinstance(spec, EmergencySpec):
        return {spec.post_notice.state: spec.post_notice}
    found = {n.state: n for n in spec.notices}
    found[spec.termination_notice.state] = spec.termination_notice
    return found


def _is_minor(env: Env, case: Case, on: date) -> bool:
    raw = (case.data.get("applicant") or {}).get("id_enc")
    if not raw:
        return False
    born = env.cipher.decrypt(raw)[6:14]
    try:
        birth = date(int(born[:4]), int(born[4:6]), int(born[6:8]))
    except ValueError:
        return False
    return (on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))) < 18


def _household_hashes(case: Case) -> list[str]:
    return sorted({str(m["id_hash"]) for m in members(case.data) if m.get("id_hash")})


def _fund_account(case: Case) -> str:
    return case.county_code if case.state == emergency.COUNTY_APPROVAL else case.township_code


def _lock_fund(conn: Connection, account: str, now: datetime) -> int:
    conn.execute(
        _insert(conn, _funds)
        .values(account_code=account, balance_fen=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["account_code"])
    )
    balance = conn.execute(
        core_select(_funds.c.balance_fen).where(_funds.c.account_code == account).with_for_update()
    ).scalar_one()
    return int(balance)


def _move_fund(
    session: Session,
    *,
    account: str,
    kind: str,
    amount_fen: int,
    actor: Actor,
    now: datetime,
    case_id: int | None = None,
) -> int:
    conn = session.connection()
    balance = _lock_fund(conn, account, now)
    after = balance + amount_fen if kind == "deposit" else balance - amount_fen
    if after < 0:
        raise InvalidInput(f"备用金余额不足 / the reserve fund {account} is short: {balance} fen")
    conn.execute(update(_funds).where(_funds.c.account_code == account).values(balance_fen=after, updated_at=now))
    session.add(
        FundEntry(
            account_code=account,
            kind=kind,
            amount_fen=amount_fen,
            balance_after_fen=after,
            case_id=case_id,
            actor=actor.username,
            at=now,
        )
    )
    session.flush()
    return after


# --------------------------------------------------------------------------- facts


_MAX_INVESTIGATORS = 20
_INVESTIGATOR_ROLES = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER)


def _investigators(session: Session, case: Case, names: Sequence[str]) -> dict[str, str | None]:
    """Of `names`, the active officials whose grant reaches the case's village, with their identity hash;
    a name missing here is no one who may sign the house visit."""
    if not names:
        return {}
    rows = session.exec(
        select(User.username, User.id_number_hash, RoleGrant.region_code)
        .join(RoleGrant, col(RoleGrant.user_id) == col(User.id))
        .where(
            col(User.username).in_(list(names)),
            col(User.active).is_(True),
            col(RoleGrant.role).in_([str(r) for r in _INVESTIGATOR_ROLES]),
        )
    ).all()
    return {str(name): hashed for name, hashed, region in rows if covers(str(region), case.region_code)}


def _submitted_on(case: Case) -> date:
    """The local day the application was submitted (its creation, for a case submitted before this was kept)."""
    stamped = (case.data.get("submitted") or {}).get("at")
    at = datetime.fromisoformat(stamped) if isinstance(stamped, str) else case.created_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return local_date(at)


def _facts(
    session: Session, env: Env, case: Case, action: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """What the guards of `action` need from the database, looked up before firing."""
    facts: dict[str, Any] = {"rules": env.rules(case.region_code, now)}
    if action in ("submit", "village_pass", "approve"):
        facts["invalid_ids"] = [
            str(m.get("name", ""))
            for m in members(case.data)
            if not m.get("id_enc") or not valid_id_number(env.cipher.decrypt(str(m["id_enc"])))
        ]
    if action == "village_pass" and isinstance(data.get("investigators"), list):
        names = sorted({n.strip() for n in data["investigators"] if isinstance(n, str) and n.strip()})
        facts["investigator_hashes"] = _investigators(session, case, names[:_MAX_INVESTIGATORS])
    if action == "village_pass":
        facts["submitted_on"] = _submitted_on(case)
    if action == "grant_emergency":
        facts["fund_balance"] = _lock_fund(session.connection(), _fund_account(case), now)
        year = local_date(now).year
        hashes = _household_hashes(case)
        facts["grants_this_year"] = session.exec(
            select(func.count(func.distinct(EmergencyGrant.case_id))).where(
                col(EmergencyGrant.person_hash).in_(hashes),
                EmergencyGrant.cause == case.data.get("cause"),
                EmergencyGrant.year == year,
                EmergencyGrant.case_id != case.id,
            )
        ).one()
    return facts


def actor_facts(session: Session, *, env: Env, case: Case, actor: Actor, now: datetime) -> Mapping[str, Any]:
    """The facts for the guards that judge only who acts (`actor_guard`), when the engine lists the
    actions a caller may fire: those guards read the case and the actor, no database fact; the rules in
    force are given as for any act."""
    return {"rules": env.rules(case.region_code, now)}


# --------------------------------------------------------------------------- applying


def _filing_role(session: Session, actor: Actor, village: str) -> str:
    """Who files: an officer whose scope reaches the village (代办), or an applicant for themselves."""
    roles = actor.roles_on(village)
    for role in (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER):
        if role in roles:
            return role
    if actor.has_role(Role.APPLICANT) and actor.user_id is not None:
        return Role.APPLICANT
    if any(actor.has_role(r) for r in _OFFICER_ROLES):
        raise NotFound(f"村 {village} 不在您的辖区 / village {village} not found")
    raise RoleNotPermitted("您的角色不能提交申请 / your role may not submit applications")


def _case_data(
    session: Session, env: Env, payload: ApplicationIn, spec: StandardSpec | EmergencySpec
) -> dict[str, Any]:
    relatives = [{**_person(env, r.name, r.id_number), "relation": r.relation} for r in payload.relatives_in_office]
    data: dict[str, Any] = {
        "aid_type": payload.aid_type,
        "spec": spec.to_json(),
        "applicant": {
            **_person(env, payload.applicant.name, payload.applicant.id_number),
            "phone": payload.applicant.phone,
            "email": payload.applicant.email,
        },
        "members": [
            {
                **_person(env, m.name, m.id_number),
                "relation": m.relation,
                "monthly_income_fen": m.monthly_income_fen,
                "severe_disability": m.severe_disability,
                "serious_illness": m.serious_illness,
                "can_work": m.can_work,
            }
            for m in payload.members
        ],
        "assets_fen": payload.assets_fen,
        "reason": payload.reason,
        "relatives_in_office": relatives,
        "filed_relative": bool(relatives),
        "amount_requested_fen": payload.amount_requested_fen,
        "cause": payload.cause,
        "flags": [],
    }
    if payload.bank_account:
        account = payload.bank_account.replace(" ", "")
        data["bank_account_enc"] = env.cipher.encrypt(account)
        data["bank_account_hash"] = env.cipher.lookup_hash(account)
    return data


def _related_officials(session: Session, data: Mapping[str, Any]) -> list[str]:
    """Officials whose identity number is among the household's or its declared relatives' (回避)."""
    hashes = {str(r["id_hash"]) for r in data.get("relatives_in_office") or []}
    hashes |= {str(m["id_hash"]) for m in data.get("members") or []}
    if not hashes:
        return []
    rows = session.exec(select(User.username).where(col(User.id_number_hash).in_(sorted(hashes))))
    return sorted(str(u) for u in rows)


def _shared_accounts(session: Session, data: Mapping[str, Any]) -> list[int]:
    hashed = data.get("bank_account_hash")
    if not hashed:
        return []
    rows = session.exec(
        select(CaseIdentifier.case_id).where(
            CaseIdentifier.lookup_hash == hashed, CaseIdentifier.kind == "bank_account"
        )
    )
    return sorted({int(r) for r in rows})


def _refuse_a_second_open_application(
    session: Session, data: Mapping[str, Any], definition: WorkflowDefinition, actor: Actor
) -> None:
    """One household, one standard application at a time: a second one still open for any of its
    members would be decided, and paid, twice. (Emergency aid may run beside it: P16.)"""
    hashes = sorted({str(m["id_hash"]) for m in members(data) if m.get("id_hash")})
    if not hashes:
        return
    found = session.exec(
        select(Case)
        .join(CaseIdentifier, col(CaseIdentifier.case_id) == col(Case.id))
        .where(
            col(CaseIdentifier.lookup_hash).in_(hashes),
            col(CaseIdentifier.kind).in_(("applicant", "member")),
            Case.workflow == definition.key,
            col(Case.state).not_in(sorted(definition.terminal)),
        )
        .limit(1)
    ).first()
    if found is None:
        return
    if can_see(actor, found):
        raise Conflict(
            f"该家庭成员已有在办的申请 {found.reference}，请继续办理该申请或先撤回 / "
            f"a member of this household already has an open application ({found.reference}): "
            "continue that one, or withdraw it first"
        )
    # Outside the caller's scope the other application is not named (nor where it is).
    raise Conflict(
        "该家庭成员已有在办的申请，请联系乡镇民政办 / "
        "a member of this household already has an open application: contact the township office"
    )


def _index_identifiers(session: Session, case: Case) -> None:
    assert case.id is not None
    rows = [("applicant", (case.data.get("applicant") or {}).get("id_hash"))]
    rows += [("member", m.get("id_hash")) for m in members(case.data)]
    rows += [("relative", r.get("id_hash")) for r in case.data.get("relatives_in_office") or []]
    rows.append(("bank_account", case.data.get("bank_account_hash")))
    for kind, hashed in rows:
        if hashed:
            session.add(
                CaseIdentifier(case_id=case.id, kind=kind, lookup_hash=str(hashed), county_code=case.county_code)
            )
    session.flush()


def _open_case(
    session: Session,
    *,
    env: Env,
    actor: Actor,
    role: str,
    payload: ApplicationIn,
    now: datetime,
    applicant_user_id: int | None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Case, str]:
    rules = env.rules(payload.village, now)
    spec: StandardSpec | EmergencySpec = (
        EmergencySpec.from_rules(rules) if payload.aid_type == "emergency" else StandardSpec.from_rules(rules)
    )
    definition = registry.build(spec)
    data = _case_data(session, env, payload, spec)
    data.update(extra or {})
    if spec.key == StandardSpec.key:
        _refuse_a_second_open_application(session, data, definition, actor)
    recused = _related_officials(session, data)
    if role != Role.APPLICANT and actor.username in recused:
        reason = (
            "您与该申请家庭存在近亲属关系，须回避，不能代为申请，请由其他工作人员办理 / "
            "you are a relative of this household and must recuse: another official must file for it"
        )
        refused = GuardRejected("create", definition.initial, [reason], about_actor=[reason])
        refused.attempt = Attempt(actor.username, role, payload.village, None)
        raise refused
    data["recused"] = recused
    shared = _shared_accounts(session, data)
    if shared:
        data["shared_bank_account_with"] = shared
        data["flags"] = [{"kind": "shared_bank_account", "state": definition.initial, "at": now.isoformat()}]
    code = secrets.token_urlsafe(16)
    case = create_case(
        session,
        definition=definition,
        region_code=payload.village,
        reference=_next_reference(session, payload.aid_type, now),
        actor=actor,
        role=role,
        data=data,
        now=now,
        calendar=env.calendar,
        applicant_user_id=applicant_user_id,
        tracking_hash=env.cipher.lookup_hash(code),
        audit_data={
            "aid_type": payload.aid_type,
            "on_behalf": role != Role.APPLICANT,
            "filed_relative": data["filed_relative"],
            "workflow_version": definition.version,
            **({"shared_bank_account_with": shared} if shared else {}),
            **{k: v for k, v in (extra or {}).items() if k == "converted_from"},
        },
    )
    _index_identifiers(session, case)
    for username in recused:
        auditlog.append(
            session,
            at=now,
            actor="system",
            role=Role.SYSTEM,
            action="recusal",
            region_code=case.region_code,
            case_id=case.id,
            from_state=case.state,
            to_state=case.state,
            data={"official": username, "why": "近亲属回避 / related to the household"},
        )
    return case, code


def submit_application(session: Session, *, env: Env, actor: Actor, payload: ApplicationIn, now: datetime) -> Submitted:
    """申请: open the case and submit it at once (unless a draft); the tracking code is shown only now."""
    if session.get(Region, payload.village) is None or region_level(payload.village) != "village":
        raise NotFound(f"村 {payload.village} 不存在 / village {payload.village} not found")
    role = _filing_role(session, actor, payload.village)
    if (
        role == Role.APPLICANT
        and payload.aid_type != "emergency"
        and Role.APPLICANT not in actor.roles_on(payload.village)
    ):
        # 低保/特困 are applied for where the household lives; emergency aid wherever it happens (K8).
        raise InvalidInput(
            "低保、特困须向户籍所在村申请，您的账户不属于该村 / "
            f"minimum allowance and extreme-poverty support are applied for in your own village, not {payload.village}"
        )
    case, code = _open_case(
        session,
        env=env,
        actor=actor,
        role=role,
        payload=payload,
        now=now,
        applicant_user_id=actor.user_id if role == Role.APPLICANT else None,
    )
    record = None
    if not payload.draft:
        record = _fire(
            session, env=env, case=case, actor=actor, action="submit", data={}, version=case.version, now=now
        )
    return Submitted(case=case, tracking_code=code, record=record)


# --------------------------------------------------------------------------- acting


def _fire(
    session: Session,
    *,
    env: Env,
    case: Case,
    actor: Actor,
    action: str,
    data: Mapping[str, Any],
    version: int,
    now: datetime,
    comment: str | None = None,
    facts: Mapping[str, Any] | None = None,
) -> TransitionRecord:
    definition = env.definition_for(case)
    looked_up = _facts(session, env, case, action, data, now)
    looked_up.update(facts or {})
    record = fire(
        session,
        case=case,
        definition=definition,
        action=action,
        actor=actor,
        data=data,
        expected_version=version,
        now=now,
        calendar=env.calendar,
        facts=looked_up,
        comment=comment,
    )
    _after(session, env, case, record, now)
    return record


def _bad_fen(data: Any, path: str = "") -> list[str]:
    """Every `*_fen` value in an act's data that is not a whole number of fen in [0, FEN_LIMIT)."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key).endswith("_fen") and value is not None:
                whole = isinstance(value, int) and not isinstance(value, bool)
                if not whole or not 0 <= value < FEN_LIMIT:
                    found.append(where)
                    continue
            found.extend(_bad_fen(value, where))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(_bad_fen(item, f"{path}[{i}]"))
    return found


def _check_fen(data: Mapping[str, Any]) -> None:
    bad = _bad_fen(data)
    if bad:
        names = ", ".join(bad)
        raise InvalidInput(
            f"金额须为分为单位的非负整数且小于 {FEN_LIMIT}：{names} / "
            f"amounts must be whole, non-negative numbers of fen below {FEN_LIMIT}: {names}"
        )


def _where(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def check_action_data(action: str, data: Any) -> None:
    """The act's data against its action's model: an unknown key, or a value of the wrong type, is
    refused with the keys named. An action without a model takes no data."""
    model = ACTION_DATA.get(action, ActionData)
    if not isinstance(data, Mapping):
        raise InvalidInput("操作数据须为 JSON 对象 / the action's data must be a JSON object")
    try:
        model.model_validate(dict(data))
    except ValidationError as exc:
        errors = exc.errors()
        unknown = sorted({_where(e["loc"]) for e in errors if e["type"] == "extra_forbidden"})
        invalid = sorted({_where(e["loc"]) for e in errors if e["type"] != "extra_forbidden"})
        parts: list[str] = []
        if unknown:
            names = ", ".join(unknown)
            parts.append(f"操作数据中有未知字段 {names} / unknown field in the action's data: {names}")
        if invalid:
            names = ", ".join(invalid)
            parts.append(
                f"操作数据中以下字段的类型或取值无效：{names} / wrong type or value in the action's data: {names}"
            )
        raise InvalidInput("；".join(parts)) from None


def perform_action(
    session: Session,
    *,
    env: Env,
    actor: Actor,
    case_id: int,
    action: str,
    version: int,
    data: dict[str, Any],
    comment: str | None,
    now: datetime,
) -> TransitionRecord:
    """An official's or applicant's act on a case: checked by the engine, then its domain records."""
    case = load_case(session, case_id, actor)
    _check_fen(data)
    if version == case.version:
        # 403 and 409 come before a body's 422, as the contract orders them (a stale version is
        # refused when firing, whatever the data).
        check_may_act(env, case, actor, action)
        check_action_data(action, data)
    else:
        _check_action_name(env, case, actor, action)
    if action == "convert_to_standard":
        return _convert(session, env=env, actor=actor, case=case, version=version, data=data, comment=comment, now=now)
    return _fire(
        session, env=env, case=case, actor=actor, action=action, data=data, version=version, now=now, comment=comment
    )


def check_may_act(env: Env, case: Case, actor: Actor, action: str) -> None:
    """The actor may fire `action` on the case now, as far as role and state go: else 403 or 409."""
    acting_role(_check_action_name(env, case, actor, action), case, actor, action)


def _check_action_name(env: Env, case: Case, actor: Actor, action: str) -> WorkflowDefinition:
    if action in (OBJECT, "object"):
        raise InvalidInput("异议请在公示栏提出 / objections are raised on the notice board, not as an action")
    definition = env.definition_for(case)
    if not definition.transitions_for(action):
        _refuse_foreign_action(env, case, actor, action)
    return definition


def _refuse_foreign_action(env: Env, case: Case, actor: Actor, action: str) -> None:
    """An action of another workflow (approve on an emergency case): 409 to a role that fires it
    there, 403 to one that never does; a name no workflow knows is bad input (422)."""
    roles = frozenset().union(*(t.roles for d in env.definitions() for t in d.transitions_for(action)))
    if not roles:
        raise InvalidInput(f"未知操作「{action}」/ unknown action '{action}'")
    if roles_on_case(actor, case) & roles:
        raise TransitionNotAllowed(
            action,
            case.state,
            f"「{action}」不适用于此类申请（{env.definition_for(case).title.split(' / ')[0]}）/ "
            f"'{action}' does not apply to this kind of case ({case.workflow})",
        )
    raise RoleNotPermitted(f"您的角色无权执行「{action}」/ your role may not perform '{action}'")


def _after(session: Session, env: Env, case: Case, record: TransitionRecord, now: datetime) -> None:
    """The domain's records of a transition: notices posted, objections decided, money moved."""
    if record.moved and record.to_state in _notice_stages(case):
        _post_notice(session, env, case, now)
    if record.action in ("dismiss_objection", "uphold_objection"):
        outcome = "dismissed" if record.action == "dismiss_objection" else "upheld"
        session.connection().execute(
            update(_objections)
            .where(col(Objection.case_id) == case.id, col(Objection.outcome).is_(None))
            .values(
                outcome=outcome, finding=str(record.data.get("finding", "")), decided_by=record.actor, decided_at=now
            )
        )
    if record.action == "grant_emergency":
        amount = int(record.data["amount_fen"])
        account = case.county_code if record.role == Role.COUNTY_OFFICER else case.township_code
        actor = Actor(username=record.actor, user_id=record.actor_user_id)
        _move_fund(session, account=account, kind="debit", amount_fen=amount, actor=actor, now=now, case_id=case.id)
        assert case.id is not None
        # One row per member: the rule is once per person per cause per year (K7), whoever applies next.
        for person in _household_hashes(case):
            session.add(
                EmergencyGrant(
                    case_id=case.id,
                    person_hash=person,
                    cause=str(case.data.get("cause") or ""),
                    year=local_date(now).year,
                    amount_fen=amount,
                    account_code=account,
                    county_override=record.data.get("county_override") is True,
                    granted_by=record.actor,
                    granted_at=now,
                )
            )
        session.flush()


def _post_notice(session: Session, env: Env, case: Case, now: datetime) -> Notice:
    stage = _notice_stages(case)[case.state]
    assert case.id is not None
    data = case.data
    if stage.name in ("village", "township"):
        amount = data.get("proposed_monthly_fen")
    elif stage.name == "post":
        amount = (data.get("grant") or {}).get("amount_fen")
    else:
        amount = data.get("monthly_amount_fen")
    posted = not (data.get("aid_type") == "tekun" and _is_minor(env, case, local_date(now)))
    notice = Notice(
        case_id=case.id,
        stage=stage.name,
        state=case.state,
        label=stage.label,
        entered_version=case.entered_version,
        starts=now,
        ends=env.calendar.due(now, stage.delay),
        region_code=case.region_code,
        township_code=case.township_code,
        reference=case.reference,
        aid_type=str(data.get("aid_type")),
        masked_name=_public_name(str((data.get("applicant") or {}).get("name", ""))),
        household_size=len(members(data)),
        amount_fen=int(amount) if isinstance(amount, int) else None,
        posted=posted,
    )
    session.add(notice)
    session.flush()
    return notice


def _convert(
    session: Session,
    *,
    env: Env,
    actor: Actor,
    case: Case,
    version: int,
    data: Mapping[str, Any],
    comment: str | None,
    now: datetime,
) -> TransitionRecord:
    """急难 → 低保/特困: a new standard application for the same household, linked both ways."""
    definition = env.definition_for(case)
    role = acting_role(definition, case, actor, "convert_to_standard")
    aid_type = data.get("aid_type", "dibao")
    if aid_type not in ("dibao", "tekun"):
        raise InvalidInput("aid_type 须为 dibao 或 tekun / aid_type must be dibao or tekun")
    if version != case.version:
        from engine.errors import StaleVersion

        assert case.id is not None
        raise StaleVersion(case.id, version, case.version)
    payload = _payload_of(env, case, aid_type)
    new_case, _code = _open_case(
        session,
        env=env,
        actor=actor,
        role=role,
        payload=payload,
        now=now,
        applicant_user_id=case.applicant_user_id,
        extra={"converted_from": {"id": case.id, "reference": case.reference}},
    )
    _fire(session, env=env, case=new_case, actor=actor, action="submit", data={}, version=new_case.version, now=now)
    link = {"id": new_case.id, "reference": new_case.reference}
    return _fire(
        session,
        env=env,
        case=case,
        actor=actor,
        action="convert_to_standard",
        data={**data, "new_case": link},
        version=version,
        now=now,
        comment=comment,
        facts={"converted_to": link},
    )


def _payload_of(env: Env, case: Case, aid_type: str) -> ApplicationIn:
    d = case.data
    applicant = d.get("applicant") or {}
    return ApplicationIn.model_validate(
        {
            "aid_type": aid_type,
            "village": case.region_code,
            "applicant": {
                "name": applicant["name"],
                "id_number": env.cipher.decrypt(applicant["id_enc"]),
                "phone": applicant.get("phone") or "00000",
                "email": applicant.get("email"),
            },
            "members": [
                {
                    "name": m["name"],
                    "id_number": env.cipher.decrypt(m["id_enc"]),
                    "relation": m["relation"],
                    "monthly_income_fen": m["monthly_income_fen"],
                    "severe_disability": m.get("severe_disability", False),
                    "serious_illness": m.get("serious_illness", False),
                    "can_work": m.get("can_work", False),
                }
                for m in members(d)
            ],
            "assets_fen": d.get("assets_fen", 0),
            "reason": d.get("reason") or "由急难救助转入 / converted from emergency aid",
            "relatives_in_office": [
                {"name": r["name"], "id_number": env.cipher.decrypt(r["id_enc"]), "relation": r["relation"]}
                for r in d.get("relatives_in_office") or []
            ],
            "bank_account": env.cipher.decrypt(d["bank_account_enc"]) if d.get("bank_account_enc") else None,
        }
    )


# --------------------------------------------------------------------------- notices and objections


def _public_name(name: str, *, masked: bool = False) -> str:
    """The name as the public board shows it: 王*英, 王*, and * for a one-character name (never the name).
    `masked` is a name already masked when the notice was posted: only a single character is hidden again."""
    if len(name) <= 1:
        return "*"
    return name if masked else mask_name(name)


def _running(notice: Notice, case: Case, now: datetime) -> bool:
    return (
        case.state == notice.state
        and case.entered_version == notice.entered_version
        and notice.starts <= now < notice.ends
    )


def running_notices(session: Session, *, env: Env, now: datetime) -> list[NoticeOut]:
    """The public board: notices running now, masked; never an identity number, phone or address."""
    rows = session.exec(
        select(Notice, Region.name)
        .join(Case, col(Case.id) == col(Notice.case_id))
        .join(Region, col(Region.code) == col(Notice.region_code))
        .where(
            col(Notice.posted).is_(True),
            Notice.starts <= now,
            Notice.ends > now,
            _cases.state == Notice.state,
            _cases.entered_version == Notice.entered_version,
        )
        .order_by(col(Notice.ends), col(Notice.id))
    ).all()
    return [
        NoticeOut(
            id=n.id or 0,
            reference=n.reference,
            name=_public_name(n.masked_name, masked=True),
            village=village,
            village_code=n.region_code,
            household_size=n.household_size,
            aid_type=n.aid_type,
            amount_fen=n.amount_fen,
            stage=n.stage,
            stage_label=n.label,
            starts=n.starts,
            ends=n.ends,
        )
        for n, village in rows
    ]


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
    if not _running(notice, case, now) and not joins_pending:
        raise NotFound("公示不存在或已结束 / no such notice is running")
    assert case.id is not None
    assert notice.id is not None
    objection = Objection(
        receipt_code="YY-" + secrets.token_urlsafe(12),
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
        auditlog.append(
            session,
            at=now,
            actor=PUBLIC.username,
            role=Role.PUBLIC,
            action=OBJECT,
            region_code=case.region_code,
            case_id=case.id,
            from_state=case.state,
            to_state=case.state,
            data=act,
        )
    else:
        record = _fire(
            session, env=env, case=case, actor=PUBLIC, action=OBJECT, data=act, version=case.version, now=now
        )
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
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=Role.INSPECTOR,
        action="view_objection_contact",
        region_code=case.region_code,
        case_id=case.id,
        from_state=case.state,
        to_state=case.state,
        data={"objection_id": objection_id},
    )
    return env.cipher.decrypt(objection.contact_enc) if objection.contact_enc else None


# --------------------------------------------------------------------------- reading


def _shown_id(env: Env, token: str | None, reveal: bool) -> str | None:
    if not token:
        return None
    value = env.cipher.decrypt(token)
    return value if reveal else mask_id_number(value)


def _phone(value: str | None, reveal: bool) -> str | None:
    if not value or reveal:
        return value
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


_COPIED = (
    "aid_type",
    "assets_fen",
    "reason",
    "filed_relative",
    "amount_requested_fen",
    "cause",
    "proposed_monthly_fen",
    "monthly_amount_fen",
    "mode",
    "review_class",
    "village_pass",
    "township_pass",
    "approval",
    "county_visit",
    "info_request",
    "info_requests",
    "refusal",
    "withdrawal",
    "returned",
    "objection",
    "flags",
    "grant",
    "paperwork",
    "referral",
    "review",
    "reviews",
    "adjustments",
    "grace",
    "termination",
    "exited",
    "activated_at",
    "converted_to",
    "converted_from",
    "recused",
    "shared_bank_account_with",
    "submitted",
)


def case_details(session: Session, *, env: Env, case: Case, reveal: bool) -> dict[str, Any]:
    """The case's domain data for an official or the applicant; identifiers masked unless `reveal`."""
    d = case.data
    applicant = d.get("applicant") or {}
    people = members(d)
    size = max(1, len(people))
    income = household_income(d)
    notices = session.exec(select(Notice).where(Notice.case_id == case.id).order_by(col(Notice.id))).all()
    objections = session.exec(select(Objection).where(Objection.case_id == case.id).order_by(col(Objection.id))).all()
    details: dict[str, Any] = {key: d.get(key) for key in _COPIED if key in d}
    details.update(
        {
            "applicant": {
                "name": applicant.get("name"),
                "id_number": _shown_id(env, applicant.get("id_enc"), reveal),
                "phone": _phone(applicant.get("phone"), reveal),
                "email": applicant.get("email"),
            },
            "members": [
                {
                    "name": m.get("name"),
                    "id_number": _shown_id(env, m.get("id_enc"), reveal),
                    "relation": m.get("relation"),
                    "monthly_income_fen": m.get("monthly_income_fen"),
                    "severe_disability": m.get("severe_disability", False),
                    "serious_illness": m.get("serious_illness", False),
                    "can_work": m.get("can_work", False),
                }
                for m in people
            ],
            "relatives_in_office": [
                {
                    "name": r.get("name"),
                    "id_number": _shown_id(env, r.get("id_enc"), reveal),
                    "relation": r.get("relation"),
                }
                for r in d.get("relatives_in_office") or []
            ],
            "bank_account": (
                (lambda v: v if reveal else mask_account(v))(env.cipher.decrypt(d["bank_account_enc"]))
                if d.get("bank_account_enc")
                else None
            ),
            "household_size": len(people),
            "household_income_fen": income,
            "per_capita_income_fen": income // size,
            "paperwork_overdue": any(f.get("kind") == "paperwork_overdue" for f in d.get("flags") or []),
            "notices": [
                {
                    "id": n.id,
                    "stage": n.stage,
                    "label": n.label,
                    "starts": n.starts,
                    "ends": n.ends,
                    "posted": n.posted,
                    "amount_fen": n.amount_fen,
                }
                for n in notices
            ],
            # The objector's contact is never shown here: inspectors read it through objection_contact.
            "objections": [
                {
                    "id": o.id,
                    "receipt_code": o.receipt_code,
                    "stage": o.stage,
                    "reason": o.reason,
                    "received_at": o.received_at,
                    "outcome": o.outcome,
                    "finding": o.finding,
                    "contact_given": o.contact_enc is not None,
                }
                for o in objections
            ],
            "workflow_spec": d.get("spec"),
        }
    )
    return details


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


def _end_of_day(day: date) -> datetime:
    """The last second of a Shanghai calendar day, as UTC."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI).astimezone(UTC)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


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
            return _end_of_day(date.fromisoformat(str(due)))
        except ValueError:
            return case.deadline
    if case.state == standard.VILLAGE_REVIEW:
        entered = _aware(case.state_entered_at)
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
    return _aware(due_at) if due_at is not None else None


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
        "submitted_at": _submitted_at(case),
        "updated_at": case.updated_at,
        "reason": reason,
    }


def _submitted_at(case: Case) -> datetime | None:
    """When the household's application was submitted; a draft has not been."""
    submitted = case.data.get("submitted") or {}
    return datetime.fromisoformat(submitted["at"]) if submitted.get("at") else None


def find_by_tracking_code(session: Session, *, env: Env, code: str) -> Case | None:
    if not code or len(code) > 64:
        return None
    return session.exec(select(Case).where(Case.tracking_hash == env.cipher.lookup_hash(code))).first()


def _flag_rows(session: Session, actor: Actor, actions: Sequence[str]) -> Sequence[Any]:
    query = (
        core_select(
            _audit.case_id,
            _audit.action,
            _audit.from_state,
            _audit.at,
            _cases.reference,
            _cases.region_code,
            _audit.actor,
            _audit.data,
        )
        .join_from(AuditEntry.__table__, Case.__table__, _cases.id == _audit.case_id)  # type: ignore[attr-defined]
        .where(_audit.action.in_(actions), visible_clause(actor))
        .order_by(_audit.seq.desc())
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
        core_select(_audit.region_code, _audit.at, _audit.actor, _audit.data, _audit.from_state)
        .where(_audit.action == "refused", _audit.case_id.is_(None))
        .order_by(_audit.seq.desc())
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


# --------------------------------------------------------------------------- the reserve fund


def deposit_fund(
    session: Session, *, env: Env, township_code: str, amount_fen: int, actor: Actor, now: datetime
) -> int:
    """Pay into a reserve fund (a township's, or a county's for the grants it decides); the new balance."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or not 0 < amount_fen < FEN_LIMIT:
        raise InvalidInput(
            f"存入金额须为小于 {FEN_LIMIT} 的正整数（分）/ amount_fen must be a positive whole number of fen "
            f"below {FEN_LIMIT}"
        )
    region = session.get(Region, township_code)
    if region is None or region.level not in ("township", "county"):
        raise NotFound(f"乡镇 {township_code} 不存在 / township {township_code} not found")
    allowed = (Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.ADMIN)
    if not actor.is_system and not any(
        g.role in allowed and covers(g.region_code, township_code) for g in actor.grants
    ):
        raise RoleNotPermitted("您无权向该备用金存入 / you may not pay into this fund")
    balance = _move_fund(session, account=township_code, kind="deposit", amount_fen=amount_fen, actor=actor, now=now)
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=_role_of(actor),
        action="fund_deposit",
        region_code=township_code,
        data={"amount_fen": amount_fen, "balance_fen": balance},
    )
    return balance


def fund_balance(session: Session, township_code: str) -> int:
    fund = session.get(Fund, township_code)
    return int(fund.balance_fen) if fund is not None else 0


# --------------------------------------------------------------------------- payments


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _month_start(month: str) -> datetime:
    found = _MONTH.match(month)
    if found is None:
        raise InvalidInput(f"月份格式应为 YYYY-MM / month must be YYYY-MM: {month!r}")
    return _local_midnight(date(int(found[1]), int(found[2]), 1))


def _month_of(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{local.year:04d}-{local.month:02d}"


def payable_amount(env: Env, case: Case, month: str) -> int | None:
    """The amount due to a case for `month`, or None: from the month after activation (P10) to its exit."""
    activated = case.data.get("activated_at")
    amount = case.data.get("monthly_amount_fen")
    if not activated or not isinstance(amount, int):
        return None
    at = datetime.fromisoformat(activated)
    start = _month_of(
        add_months(_local_midnight(local_date(at).replace(day=1)), env.rules(case.region_code, at).payment_start_months)
    )
    exited = case.data.get("exited")
    if month < start or (exited and month > _month_of(datetime.fromisoformat(exited["at"]))):
        return None
    return amount


def run_payments(session: Session, *, env: Env, month: str, actor: Actor, now: datetime) -> PaymentRunResult:
    """A month's payment lines: every case active in it, once (a repeated run adds none).

    A month may be run in advance (payroll is prepared before the month starts), but no further
    ahead than the next: who is active later is not known yet."""
    start = _month_start(month)
    today = local_date(now)
    latest = f"{today.year + today.month // 12:04d}-{today.month % 12 + 1:02d}"
    if start > _month_start(latest):
        raise InvalidInput(
            f"只能发放本月或下月（{latest}）及以前的月份 / "
            f"a month can be run at most one month ahead (up to {latest}): {month}"
        )
    query = select(Case).where(
        Case.workflow == StandardSpec.key,
        or_(
            _cases.state.in_(sorted(review.PAID_STATES | {OBJECTION_REVIEW})),
            and_(_cases.state == review.EXITED, _cases.updated_at >= start),
        ),
    )
    if not actor.is_system:
        query = query.where(visible_clause(actor))
    conn = session.connection()
    created = already = 0
    for case in session.exec(query).all():
        amount = payable_amount(env, case, month)
        if amount is None or (case.state == OBJECTION_REVIEW and not case.data.get("activated_at")):
            continue
        inserted = (
            conn.execute(
                _insert(conn, _lines)
                .values(
                    case_id=case.id,
                    month=month,
                    amount_fen=amount,
                    status="pending",
                    region_code=case.region_code,
                    township_code=case.township_code,
                    county_code=case.county_code,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["case_id", "month"])
                .returning(_lines.c.id)
            ).first()
            is not None
        )
        created += int(inserted)
        already += int(not inserted)
    total_q = core_select(func.coalesce(func.sum(_lines.c.amount_fen), 0)).where(_lines.c.month == month)
    total = int(conn.execute(total_q).scalar_one())
    auditlog.append(
        session,
        at=now,
        actor=actor.username,
        role=_role_of(actor),
        action="payment_run",
        data={"month": month, "created": created, "already": already, "total_fen": total},
    )
    return PaymentRunResult(month=month, created=created, already=already, total_fen=total)


def payment_lines(session: Session, *, actor: Actor, month: str) -> list[PaymentLineOut]:
    """The month's lines in the actor's scope."""
    _month_start(month)
    rows = session.exec(
        select(PaymentLine)
        .join(Case, col(Case.id) == col(PaymentLine.case_id))
        .where(PaymentLine.month == month, visible_clause(actor))
        .order_by(col(PaymentLine.id))
    ).all()
    return [
        PaymentLineOut(application_id=p.case_id, month=p.month, amount_fen=p.amount_fen, status=p.status) for p in rows
    ]


__all__: Sequence[str] = (
    "Env",
    "FlagOut",
    "NoticeOut",
    "ObjectionReceipt",
    "PaymentLineOut",
    "PaymentRunResult",
    "Submitted",
    "actor_facts",
    "case_details",
    "deposit_fund",
    "find_by_tracking_code",
    "fund_balance",
    "objection_contact",
    "overdue_flags",
    "payment_lines",
    "perform_action",
    "plain_status",
    "raise_objection",
    "run_payments",
    "running_notices",
    "submit_application",
)
