"""A case's page and the list of cases: what the case holds, its history in words, its steps, and
the acts the reader may take now, each a form; the list searches by name or identity number."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api import deps, services
from api.deps import AppState, StateDep
from api.schemas import ApplicationOut, AuditOut
from api.web import formats
from api.web.actforms import CHOICES, LABELS, Control, form_for, place_reasons, read_form
from api.web.errors import LoginRequired
from api.web.i18n import N_, catalog, pick
from api.web.pages import _actor, check_csrf
from api.web.queue import aid_types, amount_of, state_labels, villages_in_scope
from api.web.render import lang_of, render
from engine import auditlog
from engine.access import Actor
from engine.authorize import load_case
from engine.definition import WorkflowDefinition
from engine.errors import GuardRejected, InvalidInput, StaleVersion, TransitionNotAllowed
from engine.queue import visible_page
from engine.tables import MAX_ID, Case, User
from workflows.env import Env
from workflows.facts import eligible_investigators

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])

CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]

# Audit entries that are not a transition of the definition, in words.
OTHER_ACTS = {
    "create": N_("登记申请"),
    "refused": N_("办理被拒绝"),
    "search_cases": N_("查询案件"),
    "file_with_county": N_("报县备案"),
    "acknowledge_filing": N_("县级确认备案"),
}
SYSTEM_NAME = N_("系统（到期自动办理）")


@dataclass(frozen=True)
class Step:
    state: str
    label: str
    present: bool
    done: bool


@dataclass(frozen=True)
class Event:
    at: datetime
    who: str
    what: str
    to_state: str | None
    note: str | None
    seq: int


@dataclass
class ActForm:
    action: str
    label: str
    controls: list[Control]
    errors: list[tuple[str, str]] = field(default_factory=list)
    open: bool = False


def main_path(definition: WorkflowDefinition) -> list[str]:
    """The states a case meets when every step goes forward: from the initial state, the first declared
    way on to a state not yet met, not an end and not a detour (a state whose ways on all lead back,
    such as waiting for missing papers); the walk ends where the next step turns straight back (the
    support's periodic review returns to support) or where no way on is left."""
    path = [definition.initial]

    def onward(state: str) -> set[str]:
        return {d for t in definition.available_from(state) for d in t.destinations()} - definition.terminal

    while True:
        here, met = path[-1], set(path)
        ahead = [
            d
            for t in definition.available_from(here)
            for d in t.destinations()
            if d not in met and d not in definition.terminal and onward(d) - met - {d}
        ]
        if not ahead or here in onward(ahead[0]):
            return path
        path.append(ahead[0])


def steps_of(definition: WorkflowDefinition, state: str, history: list[AuditOut]) -> list[Step]:
    """The workflow's forward steps, the present one marked; a present state off that way (awaiting
    information, an objection, an end) is shown after the last forward step the case reached."""
    path = main_path(definition)
    reached = {e.to_state for e in history if e.to_state} | {state}
    if state in path:
        here = path.index(state)
        done = set(path[:here])
    else:
        last = max((i for i, s in enumerate(path) if s in reached), default=0)
        # An end (refused, withdrawn) has no steps after it; a detour returns to the way.
        ahead = [] if state in definition.terminal else path[last + 1 :]
        path = [*path[: last + 1], state, *ahead]
        done = set(path[: last + 1])
    return [Step(s, definition.label(s), s == state, s in done) for s in path]


def act_label(definition: WorkflowDefinition, action: str) -> str:
    """An act in words: its transition's label in the definition, else the page catalog's."""
    for t in definition.transitions_for(action):
        if t.label:
            return t.label
    return OTHER_ACTS.get(action, action)


def events_of(session: Session, definition: WorkflowDefinition, history: list[AuditOut], lang: str) -> list[Event]:
    """The history in words: when, who (by name), what act, into which step."""
    names = {"system": catalog(lang).gettext(SYSTEM_NAME), **_display_names(session, {e.actor for e in history})}
    events = []
    for e in history:
        note = e.data.get("comment") if isinstance(e.data.get("comment"), str) else None
        events.append(
            Event(e.at, names.get(e.actor, e.actor), act_label(definition, e.action), e.to_state, note, e.seq)
        )
    return events


def _display_names(session: Session, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    rows = session.exec(select(User.username, User.display_name).where(col(User.username).in_(usernames))).all()
    return {str(u): str(d or u) for u, d in rows}


def _members(case: Case) -> list[tuple[str, str]]:
    """The household as an act on one of its members offers it: (position on the file, name)."""
    return [(str(i), str(m.get("name", ""))) for i, m in enumerate(case.data.get("members") or [], start=1)]


def _forms(session: Session, env: Env, case: Case, view: ApplicationOut, now: datetime) -> list[ActForm]:
    forms = []
    for action in view.actions:
        investigators = eligible_investigators(session, env=env, case=case, now=now) if action == "village_pass" else []
        forms.append(ActForm(action, "", form_for(action, investigators, _members(case))))
    return forms


RECORDS = (
    ("village_pass", N_("村级入户调查与民主评议")),
    ("info_request", N_("一次性告知补正")),
    ("returned", N_("退回村级")),
    ("township_pass", N_("乡镇审核意见")),
    ("county_visit", N_("县级入户核查")),
    ("approval", N_("审批决定")),
    ("grant", N_("救助决定")),
    ("refusal", N_("不予批准")),
    ("withdrawal", N_("撤回")),
)
_STAMP = {"by", "role", "at", "from_state"}


@dataclass(frozen=True)
class Record:
    title: str
    who: str
    at: str
    items: list[tuple[str, str]]


def records_of(session: Session, details: dict[str, Any], lang: str) -> list[Record]:
    """What each step recorded, in the order a case meets them: who, when, and each value in words."""
    found = []
    people = set()
    for key, _title in RECORDS:
        part = details.get(key)
        if isinstance(part, dict):
            people.add(str(part.get("by") or ""))
            people.update(str(p) for p in part.get("investigators") or [])
    names = _display_names(session, people - {""})
    for key, title in RECORDS:
        part = details.get(key)
        if not isinstance(part, dict):
            continue
        items: list[tuple[str, str]] = []
        for name, value in part.items():
            if name in _STAMP or value in (None, "", []):
                continue
            items.append((LABELS.get(str(name), str(name)), _shown(str(name), value, names, lang)))
        at = str(part.get("at") or "")
        when = formats.day(datetime.fromisoformat(at), lang) if at else ""
        found.append(Record(title, names.get(str(part.get("by") or ""), str(part.get("by") or "")), when, items))
    return found


def verification_of(session: Session, details: dict[str, Any]) -> dict[str, Any] | None:
    """The 核对 report as the page shows it: its times read as moments, officials by their names."""
    found = details.get("verification")
    if not isinstance(found, dict):
        return None

    def when(text: Any) -> datetime | None:
        return datetime.fromisoformat(text) if isinstance(text, str) else None

    names = _display_names(session, {str(d.get("by")) for d in found.get("disputes") or []} - {"None"})
    return {
        **found,
        "requested_at": when(found.get("requested_at")),
        "members": [{**m, "at": when(m.get("at"))} for m in found.get("members") or []],
        "disputes": [
            {**d, "at": when(d.get("at")), "by": names.get(str(d.get("by")), d.get("by"))}
            for d in found.get("disputes") or []
        ],
    }


def _shown(name: str, value: Any, names: dict[str, str], lang: str) -> str:
    if name == "investigators" and isinstance(value, list):
        return "、".join(names.get(str(v), str(v)) for v in value)
    if name.endswith("_fen") and isinstance(value, int):
        return formats.money(value)
    if name == "appraisal" and isinstance(value, dict):
        return catalog(lang).gettext(N_("赞成 %(for)s 票，反对 %(against)s 票，弃权 %(abstain)s 票")) % {
            "for": value.get("for", 0),
            "against": value.get("against", 0),
            "abstain": value.get("abstain", 0),
        }
    if isinstance(value, bool):
        return catalog(lang).gettext(N_("是") if value else N_("否"))
    if isinstance(value, list):
        return "；".join(str(v) for v in value)
    if name in CHOICES:
        return catalog(lang).gettext(dict(CHOICES[name]).get(str(value), str(value)))
    return str(value)


def case_page(
    request: Request,
    session: Session,
    state: AppState,
    actor: Actor,
    case_id: int,
    *,
    failed: ActForm | None = None,
    stale: dict[str, Any] | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    """The case page; a form that failed comes back with its values and reasons."""
    now = state.clock()
    case = load_case(session, case_id, actor)
    view = services.application_view(session, state.env, actor, case, now)
    definition = state.env.definition_for(case)
    forms = _forms(session, state.env, case, view, now)
    for form in forms:
        form.label = act_label(definition, form.action)
        if failed is not None and failed.action == form.action:
            form.controls, form.errors, form.open = failed.controls, failed.errors, True
    errors = failed.errors if failed is not None else []
    if stale is not None:
        stale["events"] = [
            e for e in events_of(session, definition, view.history, lang_of(request)) if e.seq > stale["seen"]
        ]
    context = {
        "view": view,
        "d": view.details,
        "steps": steps_of(definition, case.state, view.history),
        "events": events_of(session, definition, view.history, lang_of(request)),
        "act_forms": forms,
        "errors": errors,
        "stale": stale,
        "done": act_label(definition, done) if done in definition.actions() else None,
        "aid_types": aid_types(),
        "amount": amount_of(case.data),
        "seen": max((e.seq for e in view.history), default=0),
        "now": now,
        "records": records_of(session, view.details, lang_of(request)),
        "verification": verification_of(session, view.details),
        "title_of": definition.label,
    }
    return render(request, "case.html", context, status=status)


def _official(request: Request, session: Session) -> Actor:
    actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    deps.require_official(actor)
    return actor


@router.get("/applications/{case_id}")
def case(request: Request, state: StateDep, case_id: CaseId, done: str | None = None) -> Response:
    with state.db.session(write=True) as session:  # the view of the household's data is audited
        actor = _official(request, session)
        return case_page(request, session, state, actor, case_id, done=done)


@router.post("/applications/{case_id}/act/{action}")
async def act(
    request: Request, state: StateDep, case_id: CaseId, action: Annotated[str, Path(pattern=r"^[a-z_]{1,64}$")]
) -> Response:
    form = await request.form()
    return await run_in_threadpool(_act, request, state, case_id, action, form)


def _act(request: Request, state: AppState, case_id: int, action: str, form: Any) -> Response:
    """Read the act's form, fire it as the API fires it, and answer: the case again, or the refusal."""
    lang = lang_of(request)
    words = catalog(lang)
    with state.db.session(write=False) as session:
        actor = _official(request, session)
        case = load_case(session, case_id, actor)
        investigators = (
            eligible_investigators(session, env=state.env, case=case, now=state.clock())
            if action == "village_pass"
            else []
        )
        members = _members(case)
    controls = form_for(action, investigators, members)
    filled = read_form(form, controls, form.getlist)
    version_text = str(form.get("version") or "")
    seen_text = str(form.get("seen") or "0")
    version = int(version_text) if version_text.isdigit() else 0
    seen = int(seen_text) if seen_text.isdigit() else 0
    failed = ActForm(action, "", controls, open=True)
    if filled.errors:
        failed.errors = [(_field_id(action, name), words.gettext(msg)) for name, msg in filled.errors]
        return _again(request, state, case_id, failed=failed, status=422)
    body = json.dumps({"version": version, "data": filled.data, "comment": filled.comment}).encode()
    try:
        deps._write_unit(
            state,
            lambda session: services.act(
                session,
                state.env,
                _official(request, session),
                case_id=case_id,
                action=action,
                body=body,
                now=state.clock(),
            ),
        )
    except GuardRejected as refused:
        placed = place_reasons(refused.reasons, controls)
        failed.errors = [(_field_id(action, name), pick(reason, lang)) for name, reason in placed]
        return _again(request, state, case_id, failed=failed, status=422)
    except InvalidInput as exc:
        # Data the act's model refuses (a malformed date, say): told at the top of the form it came from.
        failed.errors = [(_field_id(action, controls[0].name), pick(str(exc.detail), lang))]
        return _again(request, state, case_id, failed=failed, status=422)
    except StaleVersion as exc:
        stale = {"expected": exc.expected, "actual": exc.actual, "seen": seen}
        return _again(request, state, case_id, stale=stale, status=409)
    except TransitionNotAllowed:
        # Refused on the state, judged before the version: when the case moved since the form was
        # shown, the reader is told what changed rather than that the act does not apply.
        with state.db.session(write=False) as session:
            actual = load_case(session, case_id, _official(request, session)).version
        if actual == version:
            raise
        stale = {"expected": version, "actual": actual, "seen": seen}
        return _again(request, state, case_id, stale=stale, status=409)
    return RedirectResponse(f"/applications/{case_id}?done={action}", status_code=303)


def _field_id(action: str, name: str) -> str:
    return f"{action}-{name.replace('.', '-')}"


def _again(request: Request, state: AppState, case_id: int, **kwargs: Any) -> Response:
    with state.db.session(write=True) as session:
        actor = _official(request, session)
        return case_page(request, session, state, actor, case_id, **kwargs)


@dataclass(frozen=True)
class ListRow:
    id: int
    reference: str
    name: str
    village: str
    aid_type: str
    state_label: str


@router.get("/applications")
def applications(
    request: Request,
    state: StateDep,
    q: Annotated[str | None, Query(max_length=50)] = None,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Every case in the caller's scope, newest first; or those a search by name or identity number finds."""
    now = state.clock()
    with state.db.session(write=True) as session:  # the households' names shown are an audited read
        actor = _official(request, session)
        searched = (q or "").strip()
        more = False
        next_after: int | None = None
        if searched:
            found = services.search_cases(session, state.env, actor, searched)
            cases, more = found.cases, found.more
        else:
            cases_seq, next_after = visible_page(session, actor, limit=25, after_id=after)
            cases = list(cases_seq)
        villages = dict(villages_in_scope(session, actor))
        labels = state_labels(state.env)
        rows = [
            ListRow(
                id=c.id or 0,
                reference=c.reference,
                name=str((c.data.get("applicant") or {}).get("name") or ""),
                village=villages.get(c.region_code, c.region_code),
                aid_type=str(c.data.get("aid_type") or ""),
                state_label=labels.get(c.state, c.state),
            )
            for c in cases
        ]
        if rows:
            auditlog.append(
                session,
                at=now,
                actor=actor.username,
                role=actor.grants[0].role if actor.grants else "unknown",
                action="search_cases" if searched else "view_cases",
                data={
                    "cases": [r.id for r in rows],
                    **({"query": "id_number" if len(searched) == 18 else "name"} if searched else {}),
                },
            )
    context = {"rows": rows, "q": searched, "more": more, "next_after": next_after, "aid_types": aid_types()}
    return render(request, "applications.html", context)
