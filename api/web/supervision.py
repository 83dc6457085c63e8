"""The county's supervision page (备案 to acknowledge, visits to make, the samples), and the township's filings;
the village's standing list of beneficiaries (长期公示, no login)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from api import deps
from api.deps import StateDep
from api.errors import status_of
from api.web.errors import LoginRequired
from api.web.i18n import pick
from api.web.pages import _actor, check_csrf
from api.web.render import lang_of, render
from api.web.reports import _home_region
from engine.access import Actor, Role
from engine.errors import NotFound, WorkflowError
from workflows.oversight.supervision import (
    acknowledge_filing,
    file_with_county,
    overview,
    record_visit,
    tasks_waiting,
)
from workflows.standing import standing_list

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
ID = Path(ge=1, le=2**31 - 1)


def _official(request: Request, state: deps.AppState) -> Actor:
    with state.db.session(write=False) as session:
        actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    return deps.require_official(actor)


def _page(
    request: Request, state: deps.AppState, actor: Actor, region: str, problems: list[str], status: int = 200
) -> Response:
    with state.db.session(write=False) as session:
        view = overview(session, actor=actor, region=region, now=state.clock())
        waiting = tasks_waiting(session, actor=actor)
    roles = {g.role for g in actor.grants}
    context = {
        "view": view,
        "region": region,
        "problems": problems,
        "waiting": waiting,
        "files": Role.TOWNSHIP_OFFICER in roles,  # the township files; the county acknowledges and visits
        "supervises": Role.COUNTY_OFFICER in roles,
    }
    return render(request, "supervision.html", context, status=status)


@router.get("/supervision")
def supervision_page(
    request: Request, state: StateDep, region: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None
) -> Response:
    actor = _official(request, state)
    return _page(request, state, actor, region or _home_region(actor), [])


def _act(request: Request, state: deps.AppState, region: str, work: Callable[[Session, Actor], object]) -> Response:
    actor = _official(request, state)
    try:
        with state.db.session(write=True) as session:
            work(session, actor)
    except WorkflowError as exc:
        if isinstance(exc, NotFound):
            raise
        return _page(request, state, actor, region, [pick(exc.detail, lang_of(request))], status=status_of(exc))
    suffix = f"&lang={request.query_params['lang']}" if "lang" in request.query_params else ""
    return RedirectResponse(f"/supervision?region={region}{suffix}", status_code=303)


@router.post("/supervision/filings/{filing_id}/file")
def file_page(
    request: Request, state: StateDep, filing_id: Annotated[int, ID], region: Annotated[str, Form(pattern=r"^\d{12}$")]
) -> Response:
    now = state.clock()
    return _act(
        request,
        state,
        region,
        lambda s, a: file_with_county(s, env=state.env, actor=a, filing_id=filing_id, now=now),
    )


@router.post("/supervision/filings/{filing_id}/acknowledge")
def acknowledge_page(
    request: Request, state: StateDep, filing_id: Annotated[int, ID], region: Annotated[str, Form(pattern=r"^\d{12}$")]
) -> Response:
    now = state.clock()
    return _act(
        request,
        state,
        region,
        lambda s, a: acknowledge_filing(s, env=state.env, actor=a, filing_id=filing_id, now=now),
    )


@router.post("/supervision/visits/{visit_id}")
def visit_page(
    request: Request,
    state: StateDep,
    visit_id: Annotated[int, ID],
    region: Annotated[str, Form(pattern=r"^\d{12}$")],
    visit_date: Annotated[str, Form(max_length=10)] = "",
    findings: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    now = state.clock()
    return _act(
        request,
        state,
        region,
        lambda s, a: record_visit(
            s, env=state.env, actor=a, visit_id=visit_id, visit_date=visit_date, findings=findings, now=now
        ),
    )


@router.get("/notices/standing")
def standing_page(request: Request, state: StateDep, village: Annotated[str, Query(pattern=r"^\d{12}$")]) -> Response:
    with state.db.session(write=False) as session:
        found = standing_list(session, env=state.env, village=village, now=state.clock())
    return render(request, "public/standing.html", {"standing": found})
