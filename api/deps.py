"""Request-scoped dependencies: the unit of work, the caller, the app's services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from api.auth import Tokens, actor_from_token
from api.settings import Settings
from api.throttle import Throttles
from engine.access import Actor, Role
from engine.database import Database
from engine.errors import GuardRejected, RoleNotPermitted
from engine.runtime import record_refusal

if TYPE_CHECKING:
    from workflows.env import Env


@dataclass
class AppState:
    settings: Settings
    db: Database
    env: Env
    tokens: Tokens
    throttles: Throttles
    clock: Callable[[], datetime]


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.aidflow
    return state


StateDep = Annotated[AppState, Depends(app_state)]


def _write_session(state: StateDep) -> Iterator[Session]:
    try:
        with state.db.session(write=True) as session:
            yield session
    except GuardRejected as refused:
        # The act is rolled back; a refusal that judged the person is recorded on its own.
        if refused.about_actor and refused.attempt is not None:
            with state.db.session(write=True) as session:
                record_refusal(session, refused, at=state.clock())
        raise


def _read_session(state: StateDep) -> Iterator[Session]:
    with state.db.session(write=False) as session:
        yield session


# scope="function": the unit of work commits before the response is sent, so a failed commit
# is an error answer rather than a success that did not happen.
SessionDep = Annotated[Session, Depends(_write_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _current_actor(state: StateDep, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]) -> Actor:
    return actor_from_token(session, state.tokens, token, state.clock())


def _current_reader(state: StateDep, session: ReadSessionDep, token: Annotated[str | None, Depends(_bearer)]) -> Actor:
    return actor_from_token(session, state.tokens, token, state.clock())


CurrentActor = Annotated[Actor, Depends(_current_actor)]
"""The caller, for requests that write (in the same unit of work as the request)."""

CurrentReader = Annotated[Actor, Depends(_current_reader)]
"""The caller, for read-only requests."""


def _official(actor: CurrentReader) -> Actor:
    if not any(g.role not in (Role.APPLICANT,) for g in actor.grants):
        raise RoleNotPermitted("仅限工作人员 / officials only")
    return actor


Official = Annotated[Actor, Depends(_official)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def now(state: StateDep) -> datetime:
    return state.clock()


Now = Annotated[datetime, Depends(now)]
