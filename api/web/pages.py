"""The pages of the foundation: landing, log in and out, the officials' queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlmodel import Session
from starlette.responses import RedirectResponse, Response

from api import auth, deps
from api.deps import AppState, StateDep
from api.services import QueueFilter
from api.web.errors import CsrfRefused, LoginRequired
from api.web.i18n import N_, catalog, pick
from api.web.queue import aid_types, queue_view
from api.web.render import lang_of, render, session_of
from engine import auditlog
from engine.access import OFFICIAL_ROLES, Actor
from engine.accounts import actor_for, issued_before_revocation
from engine.errors import TooManyRequests, Unauthenticated
from engine.tables import User
from workflows.oversight.supervision import tasks_waiting

CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def check_csrf(request: Request) -> None:
    """Every form posted to a page carries the token of the session that showed it."""
    if request.method not in UNSAFE:
        return
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not session_of(request).token_matches(token if isinstance(token, str) else None):
        raise CsrfRefused


router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])


def _actor(request: Request, session: Session) -> Actor | None:
    """The logged-in official or applicant, built from their account as the API builds it."""
    web = session_of(request)
    user = session.get(User, web.user_id) if web.user_id is not None else None
    if user is None or not user.active or issued_before_revocation(user, web.since):
        return None
    actor = actor_for(session, user)
    request.state.actor = actor
    return actor


def _reader(request: Request, state: AppState) -> Actor | None:
    """The logged-in person, read in a short unit of work of its own."""
    with state.db.session(write=False) as session:
        return _actor(request, session)


def _home_of(actor: Actor) -> str:
    return "/queue" if any(g.role in OFFICIAL_ROLES for g in actor.grants) else "/"


def _local(target: str | None) -> str | None:
    """A path on this site to go back to after login; anything else (another host) is dropped."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    return target


# Page routes are plain functions: FastAPI runs each in one worker thread, and every unit of work
# is opened inside it (none is held by a dependency while the route waits for a thread).


@router.get("/")
def landing(request: Request, state: StateDep) -> Response:
    actor = _reader(request, state)
    return render(request, "landing.html", {"is_official": actor is not None and _home_of(actor) == "/queue"})


@router.get("/login")
def login_form(request: Request, state: StateDep, next: str | None = None, bye: str | None = None) -> Response:
    actor = _reader(request, state)
    if actor is not None:
        return RedirectResponse(_local(next) or _home_of(actor), status_code=303)
    return render(request, "login.html", {"next": _local(next) or "", "errors": [], "username": "", "bye": bool(bye)})


@router.post("/login")
def login(
    request: Request,
    state: StateDep,
    address: Annotated[str, Depends(deps.client_address)],
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    errors: list[tuple[str, str]] = []
    if not username.strip():
        errors.append(("username", N_("请输入用户名")))
    if not password:
        errors.append(("password", N_("请输入密码")))
    status = 200
    headers: dict[str, str] = {}
    if not errors:
        now = state.clock()
        try:
            token = auth.login(
                state.db, state.throttles, state.tokens, username=username, password=password, address=address, now=now
            )
        except TooManyRequests as exc:
            errors.append(("username", pick(str(exc.detail), lang_of(request))))
            status, headers = 429, {"Retry-After": str(exc.retry_after)}
        except Unauthenticated:
            errors.append(("password", N_("用户名或密码错误")))
        else:
            user_id = state.tokens.user_id(token, now)
            request.state.web_session = session_of(request).logged_in(user_id, now, _lifetime(state))
            with state.db.session(write=False) as session:
                user = session.get(User, user_id)
                assert user is not None
                home = _home_of(actor_for(session, user))
            return RedirectResponse(_local(next) or home, status_code=303)
    words = catalog(lang_of(request))
    shown = [(field, words.gettext(message)) for field, message in errors]
    context = {"next": _local(next) or "", "errors": shown, "username": username, "bye": False}
    return render(request, "login.html", context, status=status, headers=headers)


def _lifetime(state: AppState) -> timedelta:
    return timedelta(minutes=state.settings.token_minutes)


@router.get("/logout")
def logout_confirm(request: Request, state: StateDep) -> Response:
    actor = _reader(request, state)
    if actor is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "logout.html")


@router.post("/logout")
def logout(request: Request, state: StateDep) -> Response:
    now = state.clock()
    with state.db.session(write=True) as session:
        actor = _actor(request, session)
        if actor is not None:
            auditlog.append(session, at=now, actor=actor.username, role="login", action="logout", data={})
    request.state.web_session = session_of(request).anonymous(now)
    return RedirectResponse("/login?bye=1", status_code=303)


@router.get("/queue")
def queue(
    request: Request,
    state: StateDep,
    village: Annotated[str | None, Query(max_length=12)] = None,
    stage: Annotated[str | None, Query(max_length=40)] = None,
    aid_type: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    only = QueueFilter(village=village or None, state=stage or None, aid_type=aid_type or None)
    with state.db.session(write=True) as session:  # the view of the households' names is audited
        actor = _actor(request, session)
        if actor is None:
            raise LoginRequired
        deps.require_official(actor)
        view = queue_view(session, state.env, actor, now=state.clock(), cursor=cursor or None, only=only)
        supervision = tasks_waiting(session, actor=actor)
    context = {"view": view, "aid_types": aid_types(), "cursor": cursor, "supervision": supervision}
    return render(request, "queue.html", context)
