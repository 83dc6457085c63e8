"""Pages for discipline inspectors (read only): the audit chain and its checkpoints, a case's trail
in words beside its raw entries, and the integrity flags. Every read of personal data is audited."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.deps import AppState, StateDep
from api.web.errors import LoginRequired
from api.web.i18n import N_, catalog
from api.web.pages import _actor, check_csrf
from api.web.render import lang_of, render
from engine import auditlog
from engine.access import Actor, Role, region_prefix
from engine.auditlog import Checkpoint, verify_log
from engine.calendar import SHANGHAI
from engine.errors import NotFound, RoleNotPermitted
from engine.tables import AuditEntry, Case
from workflows.reports import FlagOut, integrity_flags

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])

MAX_CHECKPOINT_BYTES = 8 * 1024  # a checkpoint is a few hundred bytes of JSON
FLAG_KINDS = {
    "refused_attempt": N_("被拒绝的越权或违规操作"),
    "filed_relative": N_("工作人员近亲属的申请"),
    "overdue": N_("超过办理期限"),
    "investigation_overdue": N_("入户调查超期"),
    "opinion_overdue": N_("乡镇审核超期"),
    "decision_overdue": N_("审批决定超期"),
    "objection_overdue": N_("异议核查超期"),
    "paperwork_overdue": N_("急难救助补办手续超期"),
    "first_aid_overdue": N_("急难救助未在时限内发放"),
    "suspended_too_long": N_("中止发放时间过长"),
    "verification_overdue": N_("家庭经济状况核对未按时启动"),
    "temporary_overdue": N_("临时救助办理超期"),
}

ROLE_WORDS = {
    "applicant": N_("申请人"),
    "village_officer": N_("村工作人员"),
    "township_officer": N_("乡镇工作人员"),
    "county_officer": N_("县级工作人员"),
    "inspector": N_("纪检监察"),
    "admin": N_("管理员"),
    "system": N_("系统（到期自动处理）"),
    "public": N_("公众"),
    "login": N_("登录"),
}

# Entries that are not transitions of a workflow (they have no label there).
ACTION_WORDS = {
    "create": N_("建立申请"),
    "view_case": N_("查看了案卷"),
    "refused": N_("操作被拒绝"),
    "recusal": N_("回避"),
    "reissue_tracking_code": N_("补打回执，换发查询码"),
    "raise_objection": N_("公众提出异议"),
    "view_objection_contact": N_("查看了异议人的联系方式"),
    "flag_overdue": N_("超期标记"),
}


def _words(request: Request) -> dict[str, Any]:
    """Roles and flag kinds in the reader's language, for the templates."""
    words = catalog(lang_of(request))
    return {
        "action_words": lambda action: words.gettext(ACTION_WORDS[action]) if action in ACTION_WORDS else action,
        "role_words": lambda role: words.gettext(ROLE_WORDS[role]) if role in ROLE_WORDS else role,
        "kind_words": lambda kind: words.gettext(FLAG_KINDS[kind]) if kind in FLAG_KINDS else kind,
    }


def _inspector(request: Request, session: Session) -> Actor:
    """The logged-in inspector; anyone else is refused (an anonymous visitor is sent to log in)."""
    actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    if not any(g.role == Role.INSPECTOR for g in actor.grants):
        raise RoleNotPermitted("仅限纪检监察人员 / inspectors only")
    return actor


@dataclass(frozen=True)
class ChainState:
    ok: bool
    entries: int
    head: str
    first_bad: int | None
    why: str | None
    last_checkpoint: dict[str, Any] | None  # the last checkpoint an inspector verified here


def _chain(session: Session) -> ChainState:
    verdict = verify_log(session)
    last = session.exec(
        select(AuditEntry).where(AuditEntry.action == "verify_checkpoint").order_by(col(AuditEntry.seq).desc())
    ).first()
    return ChainState(
        ok=verdict.ok,
        entries=verdict.entries,
        head=verdict.head,
        first_bad=verdict.first_bad,
        why=verdict.why,
        last_checkpoint={**json.loads(last.data), "by": last.actor, "at": last.at} if last is not None else None,
    )


def _home(request: Request, state: AppState, result: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    with state.db.session(write=False) as session:
        _inspector(request, session)
        chain = _chain(session)
    return render(request, "inspector/home.html", {"chain": chain, "result": result}, status=status)


@router.get("/inspector")
def home(request: Request, state: StateDep) -> Response:
    return _home(request, state)


@router.post("/inspector/checkpoint")
async def verify_checkpoint(
    request: Request,
    state: StateDep,
    checkpoint: Annotated[UploadFile | None, Form()] = None,
    public_key: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Verify an uploaded signed checkpoint against the chain (as `aidflow audit verify --checkpoint`);
    the file's name is never used, and its size is bounded."""
    raw = await checkpoint.read(MAX_CHECKPOINT_BYTES + 1) if checkpoint is not None else b""
    return await run_in_threadpool(_verify_checkpoint, request, state, raw, public_key.strip())


def _verify_checkpoint(request: Request, state: AppState, raw: bytes, public_key: str) -> Response:
    words = catalog(lang_of(request))
    problem: str | None = None
    kept: Checkpoint | None = None
    if not raw:
        problem = N_("请选择检查点文件")
    elif len(raw) > MAX_CHECKPOINT_BYTES:
        problem = N_("文件太大，不是检查点文件")
    elif not public_key:
        problem = N_("请填写签名公钥")
    else:
        try:
            kept = Checkpoint.from_json(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            problem = N_("检查点文件无法读取")
        else:
            if kept.public_key != public_key:
                problem = N_("检查点不是由指定公钥签名的")
            elif not _signature_valid(kept):
                problem = N_("检查点签名无效")
    now = state.clock()
    with state.db.session(write=True) as session:
        actor = _inspector(request, session)
        result: dict[str, Any]
        if kept is None or problem is not None:
            result = {"ok": False, "message": words.gettext(problem or N_("检查点文件无法读取"))}
        else:
            verdict = verify_log(session, kept)
            result = {
                "ok": verdict.ok,
                "seq": kept.seq,
                "head": kept.head,
                "signed_at": kept.at,
                "signed": _when(kept.at),
                "entries": verdict.entries,
                "first_bad": verdict.first_bad,
                "why": verdict.why,
                "message": words.gettext(N_("审计链与检查点一致，检查点之前的记录未被改动"))
                if verdict.ok
                else words.gettext(N_("审计链与检查点不一致")),
            }
        auditlog.append(
            session,
            at=now,
            actor=actor.username,
            role=Role.INSPECTOR,
            action="verify_checkpoint",
            data={k: result.get(k) for k in ("ok", "seq", "head", "signed_at", "first_bad")}
            | {"public_key": public_key[:100]},
        )
    return _home(request, state, result, status=200 if result["ok"] else 422)


def _when(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _signature_valid(kept: Checkpoint) -> bool:
    try:
        return kept.signature_valid()
    except ValueError:  # a key or signature that is not base64 of the right length
        return False


@dataclass(frozen=True)
class Step:
    """One entry of a case's trail, in words and as stored."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    words: str
    from_state: str | None
    to_state: str | None
    refused: bool
    detail: str | None  # what was attempted and why it was refused, for a refused attempt
    data: str
    prev_hash: str
    hash: str


def _trail(session: Session, state: AppState, case: Case) -> list[Step]:
    definition = state.env.definition_for(case)
    entries = session.exec(select(AuditEntry).where(AuditEntry.case_id == case.id).order_by(col(AuditEntry.seq))).all()
    steps = []
    for e in entries:
        transitions = definition.transitions_for(e.action)
        words = transitions[0].label if transitions and transitions[0].label else e.action
        try:
            parsed = json.loads(e.data)
            data = json.dumps(parsed, ensure_ascii=False, indent=1, sort_keys=True)
        except ValueError:
            parsed, data = {}, e.data
        detail = None
        if e.action == "refused" and isinstance(parsed, dict):
            reasons = "；".join(str(r) for r in parsed.get("reasons") or [])
            detail = f"{parsed.get('attempted')}: {reasons}"
        steps.append(
            Step(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                role=e.role,
                action=e.action,
                words=words,
                from_state=definition.label(e.from_state) if e.from_state else None,
                to_state=definition.label(e.to_state) if e.to_state else None,
                refused=e.action in ("refused", "recusal"),
                detail=detail,
                data=data,
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
        )
    return steps


@router.get("/inspector/cases/{case_id}")
def case_trail(request: Request, state: StateDep, case_id: int) -> Response:
    now = state.clock()
    with state.db.session(write=True) as session:  # the trail holds personal data: the read is audited
        actor = _inspector(request, session)
        case = session.get(Case, case_id) if 0 < case_id < 2**53 else None
        if case is None or Role.INSPECTOR not in actor.roles_on(case.region_code):
            raise NotFound(f"申请 {case_id} 不存在 / application {case_id} not found")
        auditlog.record(
            session,
            case=case,
            actor_name=actor.username,
            role=Role.INSPECTOR,
            action="view_case",
            data={"page": "trail"},
            at=now,
        )
        steps = _trail(session, state, case)
        label = state.env.definition_for(case).label(case.state)
        context = {"case": case, "steps": steps, "state_label": label}
    return render(request, "inspector/trail.html", {**context, **_words(request)})


@router.get("/inspector/case")
def case_by_id(id: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The case-number form: to the trail of the case it names."""
    number = int(id) if id.strip().isdigit() else 0
    return RedirectResponse(f"/inspector/cases/{number}" if number else "/inspector", status_code=303)


def _period_bound(value: str | None, *, end: bool) -> datetime | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if day is None:
        return None
    moment = datetime.combine(day, time(0, 0), tzinfo=SHANGHAI)
    return moment + timedelta(days=1) if end else moment


@router.get("/inspector/flags")
def flags(
    request: Request,
    state: StateDep,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    region: Annotated[str | None, Query(max_length=12, pattern=r"^\d{0,12}$")] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    official: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    now = state.clock()
    with state.db.session(write=True) as session:
        actor = _inspector(request, session)
        found = integrity_flags(session, actor=actor)
        auditlog.append(
            session,
            at=now,
            actor=actor.username,
            role=Role.INSPECTOR,
            action="view_flags",
            data={
                "kind": kind,
                "region": region,
                "from": start,
                "to": end,
                "official": official,
            },
        )
    since, until = _period_bound(start, end=False), _period_bound(end, end=True)
    prefix = region_prefix(region) if region and len(region) == 12 else (region or "")
    shown: list[FlagOut] = [
        f
        for f in found
        if (not kind or f.kind == kind)
        and f.region_code.startswith(prefix)
        and (since is None or f.at >= since)
        and (until is None or f.at < until)
        and (not official or (f.official or "") == official.strip())
    ]
    kinds = sorted({f.kind for f in found} | set(FLAG_KINDS))
    officials = sorted({f.official for f in found if f.official})
    context = {
        "flags": shown,
        "total": len(found),
        "kinds": [(k, catalog(lang_of(request)).gettext(FLAG_KINDS[k]) if k in FLAG_KINDS else k) for k in kinds],
        "officials": [(o, o) for o in officials],
        "only": {
            "kind": kind or "",
            "region": region or "",
            "from": start or "",
            "to": end or "",
            "official": official or "",
        },
        **_words(request),
    }
    return render(request, "inspector/flags.html", context)
