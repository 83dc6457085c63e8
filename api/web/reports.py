"""The inspectors' pages: the 月通报, the watch list (潜在救助对象) and the flags with their rules."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from starlette.responses import Response

from api import deps
from api.deps import StateDep
from api.errors import status_of
from api.web.errors import LoginRequired
from api.web.formats import moment
from api.web.i18n import pick
from api.web.pages import _actor, check_csrf
from api.web.render import lang_of, render
from engine.access import Actor, Role
from engine.calendar import SHANGHAI, local_date
from engine.errors import InvalidInput, WorkflowError
from workflows import aidtypes
from workflows.oversight.monthly import CAUSES, FIGURES, LABELS, monthly_report
from workflows.oversight.watchlist import VISITORS, record_follow_up, watch_list
from workflows.reports import FLAG_RULES, FlagFilter, integrity_flags

router = APIRouter(include_in_schema=False)


def _home_region(actor: Actor) -> str:
    """The widest region the official's grants reach: the report opens on it."""
    codes = [g.region_code for g in actor.grants if g.role not in (Role.APPLICANT, Role.PUBLIC) and g.region_code]
    return min(codes, key=lambda c: len(c.rstrip("0"))) if codes else ""


def _last_month(today: date) -> str:
    year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@router.get("/reports")
def monthly_page(
    request: Request,
    state: StateDep,
    region: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    month: Annotated[str | None, Query(pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$")] = None,
) -> Response:
    now = state.clock()
    with state.db.session(write=False) as session:
        actor = _actor(request, session)
        if actor is None:
            raise LoginRequired
        deps.require_official(actor)
        region = region or _home_region(actor)
        month = month or _last_month(local_date(now))
        report = monthly_report(session, actor=actor, region=region, month=month)
    context = {
        "report": report,
        "figures": FIGURES,
        "labels": LABELS,
        "causes": CAUSES,
        "aid_names": {a.key: (a.name_zh, a.name_en) for a in aidtypes.all()},
        "xlsx": f"/api/v1/reports/monthly?region={region}&month={month}&format=xlsx",
    }
    return render(request, "reports_monthly.html", context)


def _watchlist(
    request: Request,
    state: deps.AppState,
    actor: Actor,
    *,
    recorded: int | None = None,
    problems: tuple[int, str] | None = None,
    status: int = 200,
) -> Response:
    with state.db.session(write=False) as session:
        rows = watch_list(session, env=state.env, actor=actor, now=state.clock())
    lang = lang_of(request)
    shown = [(w, moment(w.next_follow_up, lang)) for w in rows]
    visits = any(g.role in VISITORS for g in actor.grants)
    context = {"rows": shown, "can_visit": visits, "recorded": recorded, "problem": problems}
    return render(request, "reports_watchlist.html", context, status=status)


def _official(request: Request, state: deps.AppState) -> Actor:
    with state.db.session(write=False) as session:
        actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    return deps.require_official(actor)


@router.get("/reports/watchlist")
def watchlist_page(request: Request, state: StateDep) -> Response:
    return _watchlist(request, state, _official(request, state))


@router.post("/reports/watchlist/{case_id}/follow-up", dependencies=[Depends(check_csrf)])
def follow_up_page(
    request: Request,
    state: StateDep,
    case_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    note: Annotated[str, Form(max_length=2000)] = "",
    still_in_need: Annotated[str | None, Form(max_length=10)] = None,
) -> Response:
    """回访: the follow-up visit recorded from the watch list; the list again, the row moved on."""
    actor = _official(request, state)
    try:
        with state.db.session() as session:
            record_follow_up(
                session,
                env=state.env,
                actor=actor,
                case_id=case_id,
                note=note,
                still_in_need=still_in_need is not None,
                now=state.clock(),
            )
    except WorkflowError as exc:
        problem = (case_id, pick(exc.detail, lang_of(request)))
        return _watchlist(request, state, actor, problems=problem, status=status_of(exc))
    return _watchlist(request, state, actor, recorded=case_id)


@router.get("/reports/flags")
def flags_page(
    request: Request,
    state: StateDep,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    region: Annotated[str | None, Query(max_length=12)] = None,
    official: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
    until: Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
) -> Response:
    only = FlagFilter(
        kind=kind or None,
        region=region or None,
        official=official or None,
        since=_start_of(since),
        until=_start_of(until),
    )
    with state.db.session(write=False) as session:
        actor = _actor(request, session)
        if actor is None:
            raise LoginRequired
        deps.require_official(actor)
        found = integrity_flags(session, actor=actor, env=state.env, only=only, now=state.clock())
    lang = lang_of(request)
    params = "&".join(f"{k}={v}" for k, v in request.query_params.items() if k != "lang" and v)
    context = {
        "rows": [(f, moment(f.at, lang)) for f in found],
        "kinds": list(FLAG_RULES.items()),
        "only": only,
        "since": since or "",
        "until": until or "",
        "xlsx": "/api/v1/reports/flags?format=xlsx" + (f"&{params}" if params else ""),
    }
    return render(request, "reports_flags.html", context)


def _start_of(day: str | None) -> datetime | None:
    """The first moment of a day in Beijing, as an inspector means a date (an empty field: none)."""
    if not day:
        return None
    try:
        return datetime.combine(date.fromisoformat(day), time(0, 0), tzinfo=SHANGHAI)
    except ValueError as exc:
        raise InvalidInput(f"日期无效 / not a date: {day}") from exc
