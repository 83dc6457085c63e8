"""Intake: filing an application (代办 or the household's own), and converting an emergency case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine import auditlog
from engine.access import Actor, Role, region_level
from engine.authorize import Decision, can_see
from engine.definition import WorkflowDefinition
from engine.errors import (
    Attempt,
    Conflict,
    GuardRejected,
    InvalidInput,
    NotFound,
    RoleNotPermitted,
    StaleVersion,
)
from engine.runtime import TransitionRecord, create_case
from engine.tables import Case, Region, User
from workflows import aidtypes, codes, registry
from workflows.base import OFFICER_ROLES, encrypted_person, next_reference
from workflows.casefile import FILE_VERSION, CaseFile, Person
from workflows.firing import decide, fire_act
from workflows.guards import members
from workflows.links import PERSON_KINDS, link_opened
from workflows.models import (
    CaseIdentifier,
)
from workflows.policy import TEMPORARY_CAUSES
from workflows.schemas import ApplicationIn
from workflows.spec import AnySpec, EmergencySpec, StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env


@dataclass(frozen=True)
class Submitted:
    case: Case
    tracking_code: str
    record: TransitionRecord | None = None  # the submit transition; None for a draft


def _filing_role(session: Session, actor: Actor, village: str) -> str:
    """Who files: an officer whose scope reaches the village (代办), or an applicant for themselves."""
    roles = actor.roles_on(village)
    for role in (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER):
        if role in roles:
            return role
    if actor.has_role(Role.APPLICANT) and actor.user_id is not None:
        return Role.APPLICANT
    if any(actor.has_role(r) for r in OFFICER_ROLES):
        raise NotFound(f"村 {village} 不在您的辖区 / village {village} not found")
    raise RoleNotPermitted("您的角色不能提交申请 / your role may not submit applications")


def _case_data(session: Session, env: Env, payload: ApplicationIn, spec: AnySpec) -> dict[str, Any]:
    relatives = [
        {**encrypted_person(env, r.name, r.id_number), "relation": r.relation} for r in payload.relatives_in_office
    ]
    data: dict[str, Any] = {
        "file_version": FILE_VERSION,
        "aid_type": payload.aid_type,
        "spec": spec.to_json(),
        "applicant": {
            **encrypted_person(env, payload.applicant.name, payload.applicant.id_number),
            "phone_enc": env.cipher.encrypt(payload.applicant.phone),
            "email_enc": env.cipher.encrypt(payload.applicant.email) if payload.applicant.email else None,
        },
        "members": [
            {
                **encrypted_person(env, m.name, m.id_number),
                "relation": m.relation,
                "monthly_income_fen": m.monthly_income_fen,
                "severe_disability": m.severe_disability,
                "serious_illness": m.serious_illness,
                "can_work": m.can_work,
                **({"disability": m.disability.model_dump()} if m.disability else {}),
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
    aid = aidtypes.get(payload.aid_type)
    data.update(aid.case_data(payload.intake, lambda name, number: encrypted_person(env, name, number)))
    if payload.bank_account:
        account = payload.bank_account.replace(" ", "")
        data["bank_account_enc"] = env.cipher.encrypt(account)
        data["bank_account_hash"] = env.cipher.lookup_hash(account)
    return data


def _related_officials(session: Session, data: Mapping[str, Any]) -> list[str]:
    """Officials whose identity number is among the household's or its declared relatives' (回避)."""
    hashes = {str(r["id_hash"]) for r in data.get("relatives_in_office") or []}
    hashes |= {str(m["id_hash"]) for m in data.get("members") or []}
    hashes |= {str(p["id_hash"]) for p in data.get("supporters") or []}  # 特困: the legal supporters
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


def _index_identifiers(session: Session, case: Case) -> list[str]:
    """The case's identity hashes and bank account as lookup rows; the people's hashes returned."""
    assert case.id is not None
    rows = [("applicant", (case.data.get("applicant") or {}).get("id_hash"))]
    rows += [("member", m.get("id_hash")) for m in members(case.data)]
    rows += [("relative", r.get("id_hash")) for r in case.data.get("relatives_in_office") or []]
    rows += [("supporter", p.get("id_hash")) for p in case.data.get("supporters") or []]
    rows.append(("bank_account", case.data.get("bank_account_hash")))
    for kind, hashed in rows:
        if hashed:
            session.add(
                CaseIdentifier(case_id=case.id, kind=kind, lookup_hash=str(hashed), county_code=case.county_code)
            )
    session.flush()
    return [str(hashed) for kind, hashed in rows if hashed and kind in PERSON_KINDS]


def open_case(
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
    spec = aidtypes.spec_for(aidtypes.get(payload.aid_type), rules)
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
    code = codes.new_code()
    case = create_case(
        session,
        definition=definition,
        region_code=payload.village,
        reference=next_reference(session, payload.aid_type, now),
        actor=actor,
        role=role,
        data=data,
        now=now,
        calendar=env.calendar,
        applicant_user_id=applicant_user_id,
        tracking_hash=env.cipher.lookup_hash(codes.normalise(code)),
        audit_data={
            "aid_type": payload.aid_type,
            "on_behalf": role != Role.APPLICANT,
            "filed_relative": data["filed_relative"],
            "workflow_version": definition.version,
            **({"shared_bank_account_with": shared} if shared else {}),
            **{k: v for k, v in (extra or {}).items() if k == "converted_from"},
        },
    )
    link_opened(session, definition, case, actor, _index_identifiers(session, case))
    for username in recused:
        auditlog.record(
            session,
            case=case,
            actor_name="system",
            role=Role.SYSTEM,
            action="recusal",
            data={"official": username, "why": "近亲属回避 / related to the household"},
            at=now,
        )
    return case, code


def submit_application(session: Session, *, env: Env, actor: Actor, payload: ApplicationIn, now: datetime) -> Submitted:
    """申请: open the case and submit it at once (unless a draft); the tracking code is shown only now."""
    if session.get(Region, payload.village) is None or region_level(payload.village) != "village":
        raise NotFound(f"村 {payload.village} 不存在 / village {payload.village} not found")
    role = _filing_role(session, actor, payload.village)
    if (
        role == Role.APPLICANT
        and aidtypes.get(payload.aid_type).workflow != EmergencySpec.key
        and Role.APPLICANT not in actor.roles_on(payload.village)
    ):
        # 低保/特困 are applied for where the household lives; emergency aid wherever it happens (K8).
        raise InvalidInput(
            "低保、特困须向户籍所在村申请，您的账户不属于该村 / "
            f"minimum allowance and extreme-poverty support are applied for in your own village, not {payload.village}"
        )
    case, code = open_case(
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
        submit = decide(env, case, actor, "submit")
        record = fire_act(session, env=env, case=case, decision=submit, data={}, version=case.version, now=now)
    return Submitted(case=case, tracking_code=code, record=record)


def convert(
    session: Session,
    *,
    env: Env,
    case: Case,
    decision: Decision,
    version: int,
    data: Mapping[str, Any],
    comment: str | None,
    now: datetime,
) -> TransitionRecord:
    """急难 → 低保/特困, or 支出型临时救助 on the normal channel (domain.md §9 (2)): a new application for
    the same household, linked both ways."""
    actor, role = decision.actor, decision.role
    aid_type = data.get("aid_type", "dibao")
    standard_types = [a.key for a in (*aidtypes.of_workflow(StandardSpec.key), *aidtypes.of_workflow("temporary"))]
    if aid_type not in standard_types:
        listed = ", ".join(standard_types)
        raise InvalidInput(f"aid_type 须为 {listed} 之一 / aid_type must be one of {listed}")
    cause = data.get("cause")
    if cause is not None and aidtypes.get(aid_type).workflow == "temporary" and cause not in TEMPORARY_CAUSES:
        listed = ", ".join(TEMPORARY_CAUSES)
        raise InvalidInput(
            f"支出型临时救助的事由须为 {listed} 之一 / the cause of temporary aid must be one of {listed}"
        )
    if version != case.version:
        assert case.id is not None
        raise StaleVersion(case.id, version, case.version)
    payload = _payload_of(env, case, aid_type, data.get("cause"))
    new_case, _code = open_case(
        session,
        env=env,
        actor=actor,
        role=role,
        payload=payload,
        now=now,
        applicant_user_id=case.applicant_user_id,
        extra={"converted_from": {"id": case.id, "reference": case.reference}},
    )
    submit = decide(env, new_case, actor, "submit")
    fire_act(session, env=env, case=new_case, decision=submit, data={}, version=new_case.version, now=now)
    link = {"id": new_case.id, "reference": new_case.reference}
    return fire_act(
        session,
        env=env,
        case=case,
        decision=decision,
        data={**data, "new_case": link},
        version=version,
        now=now,
        comment=comment,
        facts={"converted_to": link},
    )


def _payload_of(env: Env, case: Case, aid_type: str, cause: Any = None) -> ApplicationIn:
    """The emergency case's household, filed again as a standard application (or as temporary aid on the
    normal channel, with the amount it asked for and the cause given, else its own where that is one
    the normal channel caps, else other)."""
    f = CaseFile.read(case.data)
    temporary: dict[str, Any] = {}
    if aidtypes.get(aid_type).workflow == "temporary":
        own = f.cause if f.cause in TEMPORARY_CAUSES else "other"
        temporary = {"amount_requested_fen": f.amount_requested_fen, "cause": cause or own}

    def id_number(person: Person) -> str:
        return env.cipher.decrypt(person.id_enc) if person.id_enc else ""

    return ApplicationIn.model_validate(
        {
            "aid_type": aid_type,
            "village": case.region_code,
            "applicant": {
                "name": f.applicant.name,
                "id_number": id_number(f.applicant),
                "phone": f.applicant.phone_in(env.cipher) or "00000",
                "email": f.applicant.email_in(env.cipher),
            },
            "members": [
                {
                    "name": m.name,
                    "id_number": id_number(m),
                    "relation": m.relation,
                    "monthly_income_fen": m.monthly_income_fen,
                    "severe_disability": m.severe_disability,
                    "serious_illness": m.serious_illness,
                    "can_work": m.can_work,
                    "disability": m.disability.model_dump() if m.disability else None,
                }
                for m in f.members
            ],
            "assets_fen": f.assets_fen,
            "reason": f.reason or "由急难救助转入 / converted from emergency aid",
            "relatives_in_office": [
                {"name": r.name, "id_number": id_number(r), "relation": r.relation} for r in f.relatives_in_office
            ],
            "bank_account": env.cipher.decrypt(f.bank_account_enc) if f.bank_account_enc else None,
            **temporary,
        }
    )
