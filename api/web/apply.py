"""Filing on a household's behalf (代办): the form, its rows added and removed without script, the
answers checked (as typed and by ApplicationIn), a summary to confirm, and a receipt to print."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import segno
from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from api import deps, services
from api.deps import AppState, StateDep
from api.web.actforms import fen_to_yuan, yuan_to_fen
from api.web.errors import LoginRequired
from api.web.i18n import N_, catalog, pick
from api.web.pages import _actor, check_csrf
from api.web.queue import villages_in_scope
from api.web.render import lang_of, render
from engine.access import Actor
from engine.errors import RoleNotPermitted
from engine.tables import Case
from workflows import aidtypes
from workflows.policy import DEDUCTIBLE_SPENDING
from workflows.schemas import ApplicationIn
from workflows.tracking import plain_status

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])

MAX_ROWS = 30
MEMBER_KEYS = (
    "name",
    "id_number",
    "relation",
    "income",
    "severe_disability",
    "serious_illness",
    "can_work",
    "disability_category",
    "disability_grade",
)
PERSON_KEYS = ("name", "id_number", "relation")
RIGID_SPENDING = DEDUCTIBLE_SPENDING  # E4: medical, disability_care, education
SUPPORTER_KEYS = ("name", "id_number", "relation", "able")
LISTS = {"members": MEMBER_KEYS, "relatives": PERSON_KEYS, "supporters": SUPPORTER_KEYS}
SINGLE = (
    "aid_type",
    "village",
    "phone",
    "reason",
    "assets",
    "amount_requested",
    "cause",
    "orphan",
    "bank_account",
    *(f"rigid_{kind}" for kind in RIGID_SPENDING),
)

DISABILITIES = [
    ("physical", N_("肢体残疾")),
    ("intellectual", N_("智力残疾")),
    ("mental", N_("精神残疾")),
    ("visual", N_("视力残疾")),
    ("hearing", N_("听力残疾")),
    ("speech", N_("言语残疾")),
    ("multiple", N_("多重残疾")),
]
CAUSES = [
    ("fire", N_("火灾")),
    ("disaster", N_("自然灾害")),
    ("illness", N_("重病")),
    ("accident", N_("意外事故")),
    ("other", N_("其他")),
]
# 支出型临时救助: the causes the policy caps a year (K6)
TEMPORARY_CAUSES = [
    ("illness", N_("因病（医疗支出）")),
    ("education", N_("因学（教育支出）")),
    ("disability", N_("因残（康复护理支出）")),
    ("other", N_("其他")),
]

# The field a checked answer's problem belongs to, by the path ApplicationIn reports.
LABELS = {
    "aid_type": N_("救助类型"),
    "village": N_("村"),
    "phone": N_("联系电话"),
    "reason": N_("申请理由"),
    "assets": N_("家庭财产（元）"),
    "amount_requested": N_("申请金额（元）"),
    "cause": N_("事由"),
    "rigid_medical": N_("近12个月医疗支出（元）"),
    "rigid_disability_care": N_("近12个月残疾康复护理支出（元）"),
    "rigid_education": N_("近12个月教育支出（元）"),
    "bank_account": N_("银行账号"),
    "name": N_("姓名"),
    "id_number": N_("身份证号码"),
    "relation": N_("与申请人关系"),
    "income": N_("月收入（元）"),
    "able": N_("有赡养能力"),
    "disability_grade": N_("残疾等级"),
    "disability_category": N_("残疾类别"),
}


@dataclass
class Draft:
    """The answers as typed, kept as text so a form shown again holds exactly what was entered."""

    single: dict[str, str] = field(default_factory=dict)
    members: list[dict[str, str]] = field(default_factory=lambda: [{}])
    relatives: list[dict[str, str]] = field(default_factory=list)
    supporters: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, form: FormData) -> Draft:
        draft = cls(single={k: str(form.get(k) or "").strip() for k in SINGLE})
        for name, keys in LISTS.items():
            count = _count(form.get(f"{name}-count"), 1 if name == "members" else 0)
            rows = [{k: str(form.get(f"{name}-{i}-{k}") or "").strip() for k in keys} for i in range(count)]
            setattr(draft, name, rows)
        return draft

    def rows(self, name: str) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = getattr(self, name)
        return rows

    @property
    def tekun(self) -> bool:
        return self.single.get("aid_type") == "tekun"

    @property
    def temporary(self) -> bool:
        aid = aidtypes.find(self.single.get("aid_type") or "")
        return aid is not None and aid.workflow == "temporary"

    @property
    def dibao(self) -> bool:
        return self.single.get("aid_type") == "dibao"

    @property
    def emergency(self) -> bool:
        aid = aidtypes.find(self.single.get("aid_type") or "")
        return aid is not None and aid.workflow == "emergency"


def _count(value: Any, default: int) -> int:
    text = str(value or "")
    return min(int(text), MAX_ROWS) if text.isdigit() else default


def payload_of(draft: Draft) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The application as ApplicationIn takes it, and the problems found in turning 元 into fen."""
    errors: list[tuple[str, str]] = []
    s = draft.single

    def fen(value: str, where: str, *, required: bool = False) -> int | None:
        if not value:
            if required:
                errors.append((where, N_("请填写金额，以元为单位，如 480 或 480.50")))
            return None
        amount = yuan_to_fen(value)
        if amount is None:
            errors.append((where, N_("请填写金额，以元为单位，如 480 或 480.50")))
        return amount

    members = []
    for i, m in enumerate(draft.members):
        member: dict[str, Any] = {
            "name": m.get("name", ""),
            "id_number": m.get("id_number", ""),
            "relation": m.get("relation", ""),
            "monthly_income_fen": fen(m.get("income", ""), f"members-{i}-income") or 0,
            "severe_disability": bool(m.get("severe_disability")),
            "serious_illness": bool(m.get("serious_illness")),
            "can_work": bool(m.get("can_work")),
        }
        if m.get("disability_category"):
            grade = m.get("disability_grade", "")
            if grade not in ("1", "2", "3", "4"):
                errors.append((f"members-{i}-disability_grade", N_("请选择残疾等级（一至四级）")))
            else:
                member["disability"] = {"category": m["disability_category"], "grade": int(grade)}
        members.append(member)
    head = draft.members[0] if draft.members else {}
    payload: dict[str, Any] = {
        "aid_type": s.get("aid_type", ""),
        "village": s.get("village", ""),
        "applicant": {
            "name": head.get("name", ""),
            "id_number": head.get("id_number", ""),
            "phone": s.get("phone", ""),
        },
        "members": members,
        "assets_fen": fen(s.get("assets", ""), "assets") or 0,
        "reason": s.get("reason", ""),
        "relatives_in_office": [{k: r.get(k, "") for k in PERSON_KEYS} for r in draft.relatives],
    }
    if s.get("bank_account"):
        payload["bank_account"] = s["bank_account"]
    if draft.emergency or draft.temporary:
        payload["amount_requested_fen"] = fen(s.get("amount_requested", ""), "amount_requested", required=True)
        payload["cause"] = s.get("cause") or "other"
    if draft.dibao and any(s.get(f"rigid_{kind}") for kind in RIGID_SPENDING):
        # E4: 刚性支出 over the prior 12 months, in 元 on the form
        payload["rigid_spending"] = {
            f"{kind}_fen": fen(s.get(f"rigid_{kind}", ""), f"rigid_{kind}") or 0 for kind in RIGID_SPENDING
        }
    if draft.tekun:
        payload["supporters"] = [
            {
                "name": r.get("name", ""),
                "id_number": r.get("id_number", ""),
                "relation": r.get("relation", ""),
                "able_to_support": r.get("able") == "yes",
            }
            for r in draft.supporters
        ]
        payload["orphan"] = bool(s.get("orphan"))
    return payload, errors


_FIELD_OF = {
    "monthly_income_fen": "income",
    "assets_fen": "assets",
    "amount_requested_fen": "amount_requested",
    "relatives_in_office": "relatives",
    "able_to_support": "able",
}


def _where(loc: tuple[Any, ...]) -> str:
    """A problem's field id from the path ApplicationIn reports: ("members", 0, "id_number") → members-0-id_number."""
    parts = [_FIELD_OF.get(str(p), str(p)) for p in loc]
    if parts[:1] == ["applicant"]:
        return "phone" if parts[1:2] == ["phone"] else f"members-0-{parts[1] if len(parts) > 1 else 'name'}"
    if parts[-1:] == ["disability"] or "disability" in parts:
        parts = [*parts[: parts.index("disability")], "disability_category"]
    return "-".join(parts)


def check(draft: Draft, lang: str) -> tuple[ApplicationIn | None, list[tuple[str, str]]]:
    """The answers checked as the API checks them; every problem with the field it belongs to."""
    words = catalog(lang)
    payload, problems = payload_of(draft)
    errors = [(where, words.gettext(message)) for where, message in problems]
    try:
        checked = ApplicationIn.model_validate(payload)
    except ValidationError as exc:
        for error in exc.errors():
            where = _where(tuple(error["loc"]))
            if not error["loc"]:
                message = pick(str(error["msg"]).removeprefix("Value error, "), lang)
                where = _model_problem_field(message)
            elif error["type"] == "value_error":
                message = pick(str(error["msg"]).removeprefix("Value error, "), lang)
            elif error["type"] in ("missing", "string_too_short"):
                message = words.gettext(N_("请填写%(label)s")) % {"label": words.gettext(_label(where))}
            else:
                message = words.gettext(N_("%(label)s填写有误，请检查")) % {"label": words.gettext(_label(where))}
            if not any(w == where for w, _m in errors):
                errors.append((where, message))
        return None, errors
    return (None, errors) if errors else (checked, [])


def _model_problem_field(message: str) -> str:
    if "身份证" in message or "identity" in message:
        return "members-0-id_number"
    return "aid_type"


def _label(where: str) -> str:
    return LABELS.get(where.rsplit("-", 1)[-1], N_("此项"))


def _official(request: Request, session: Session) -> Actor:
    actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    if not any(actor.has_role(role) for role in services.FILING_ROLES) or not villages_in_scope(session, actor):
        raise RoleNotPermitted("您的角色不能代为提交申请 / your role may not file on a household's behalf")
    return actor


def _form(
    request: Request, state: AppState, draft: Draft, errors: list[tuple[str, str]], status: int = 200
) -> Response:
    with state.db.session(write=False) as session:
        actor = _official(request, session)
        villages = villages_in_scope(session, actor)
    if not draft.single.get("village") and len(villages) == 1:
        draft.single["village"] = villages[0][0]
    context = {
        "draft": draft,
        "errors": errors,
        "villages": villages,
        "aid_types": [(a.key, a.label) for a in aidtypes.all()],
        "disabilities": DISABILITIES,
        "causes": CAUSES,
        "temporary_causes": TEMPORARY_CAUSES,
    }
    return render(request, "apply.html", context, status=status)


@router.get("/apply")
def apply_form(request: Request, state: StateDep, aid_type: str | None = None) -> Response:
    draft = Draft()
    if aid_type and aidtypes.find(aid_type) is not None:
        draft.single["aid_type"] = aid_type
    draft.members[0]["relation"] = "本人"
    return _form(request, state, draft, [])


@router.post("/apply")
async def apply_post(request: Request, state: StateDep) -> Response:
    form = await request.form()
    return await run_in_threadpool(_apply, request, state, form)


def _apply(request: Request, state: AppState, form: FormData) -> Response:
    """One step of filing, chosen by the button pressed: add or remove a row, check, change, confirm."""
    draft = Draft.read(form)
    do = str(form.get("do") or "check")
    lang = lang_of(request)
    row = re.fullmatch(r"(add|remove)-(members|relatives|supporters)(?:-(\d+))?", do)
    if row:
        rows = draft.rows(row.group(2))
        if row.group(1) == "add" and len(rows) < MAX_ROWS:
            rows.append({})
        elif row.group(1) == "remove" and row.group(3) is not None and int(row.group(3)) < len(rows):
            # A household has at least one member: the last one's row stays.
            keep = row.group(2) == "members" and len(rows) == 1
            if not keep:
                del rows[int(row.group(3))]
        return _form(request, state, draft, [])
    if do.startswith("change"):
        return _form(request, state, draft, [])
    checked, errors = check(draft, lang)
    if checked is None:
        return _form(request, state, draft, errors, status=422)
    if do != "confirm":
        return _summary(request, state, draft)
    body = json.dumps(checked.model_dump(mode="json", exclude_none=True)).encode()
    now = state.clock()

    def file(session: Session) -> tuple[Any, dict[str, Any]]:
        actor = _official(request, session)
        made = services.create(session, state.env, actor, body, now)
        case = session.get(Case, made.id)
        assert case is not None
        return made, plain_status(session, env=state.env, case=case, lang=lang, now=now)

    made, status = deps._write_unit(state, file)
    tracking = str(request.base_url).rstrip("/") + f"/track/{made.tracking_code}"
    qr = segno.make(tracking, error="m")
    image = "data:image/png;base64," + base64.b64encode(_png(qr)).decode()
    context = {
        "made": made,
        "status": status,
        "tracking": tracking,
        "qr": image,
        "aid": aidtypes.find(checked.aid_type),
    }
    return render(request, "receipt.html", context, status=201)


def _png(qr: segno.QRCode) -> bytes:
    import io

    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=4, border=2)
    return buffer.getvalue()


def _summary(request: Request, state: AppState, draft: Draft) -> Response:
    with state.db.session(write=False) as session:
        actor = _official(request, session)
        villages = dict(villages_in_scope(session, actor))
    aid = aidtypes.find(draft.single.get("aid_type") or "")
    context: dict[str, Any] = {
        "draft": draft,
        "village": villages.get(draft.single.get("village") or "", draft.single.get("village")),
        "aid": aid,
        "fen": yuan_to_fen,
        "yuan": fen_to_yuan,
        "disabilities": dict(DISABILITIES),
        "causes": {**dict(CAUSES), **dict(TEMPORARY_CAUSES)} if draft.temporary else dict(CAUSES),
        "errors": [],
    }
    return render(request, "apply_check.html", context)
