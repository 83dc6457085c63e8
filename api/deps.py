"""Request-scoped dependencies: the unit of work, the caller, the app's services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session

from api.auth import Tokens, actor_of, token_user_id
from api.settings import Settings
from api.throttle import Throttles
from engine.access import Actor, Role
from engine.database import Database
from engine.errors import GuardRejected, RoleNotPermitted
from engine.runtime import record_refusal

if TYPE_CHECKING:
    from workflows.env import Env

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    db: Database
    env: Env
    tokens: Tokens
    throttles: Throttles
    clock: Callable[[], datetime]


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.aidflow
    return state


StateDep = Annotated[AppState, Depends(app_state)]


def _write_unit(state: AppState, work: Callable[[Session], T]) -> T:
    """`work` in one write unit of work, committed before it returns."""
    try:
        with state.db.session(write=True) as session:
            return work(session)
    except GuardRejected as refused:
        # The act is rolled back; a refusal that judged the person is recorded on its own.
        if refused.about_actor and refused.attempt is not None:
            with state.db.session(write=True) as session:
                record_refusal(session, refused, at=state.clock())
        raise


async def in_write_unit(state: AppState, work: Callable[[Session], T]) -> T:
    """Do `work` in one unit of work, committed before the answer is sent."""
    # The whole unit runs in one worker thread: the write lock (SQLite) or the audit head's row lock
    # (PostgreSQL) is taken and released inside that one call. A request that held it while waiting
    # for a second thread would wait forever once every thread of the pool waits for the lock.
    return await run_in_threadpool(_write_unit, state, work)


@dataclass(frozen=True)
class Caller:
    """The bearer of a well-signed, unexpired token (the account itself is judged in the unit of work)."""

    state: AppState
    user_id: int
    issued_at: int = 0

    async def write(self, work: Callable[[Session, Actor], T]) -> T:
        """Authenticate, do `work`, commit: one unit of work in one worker thread."""
        return await in_write_unit(
            self.state, lambda session: work(session, actor_of(session, self.user_id, self.issued_at))
        )


_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def _caller(state: StateDep, token: Annotated[str | None, Depends(_bearer)]) -> Caller:
    user_id, issued_at = token_user_id(state.tokens, token, state.clock())
    return Caller(state, user_id, issued_at)


CallerDep = Annotated[Caller, Depends(_caller)]
"""The caller of a request that writes: 401 for a missing or bad token before anything else."""


def _read_unit(state: AppState, work: Callable[[Session], T]) -> T:
    with state.db.session(write=False) as session:
        return work(session)


async def in_read_unit(state: AppState, work: Callable[[Session], T]) -> T:
    """Do `work` in one read-only unit of work."""
    # In one worker thread for the same reason as writes: a session that held a pooled connection
    # while waiting for another thread could starve the threads waiting for a connection.
    return await run_in_threadpool(_read_unit, state, work)


async def _current_reader(state: StateDep, token: Annotated[str | None, Depends(_bearer)]) -> Actor:
    user_id, issued_at = token_user_id(state.tokens, token, state.clock())
    return await in_read_unit(state, lambda session: actor_of(session, user_id, issued_at))


CurrentReader = Annotated[Actor, Depends(_current_reader)]
"""The caller, for read-only requests (the account is read in a unit of work of its own)."""


def require_official(actor: Actor) -> Actor:
    """The actor, if they hold an official's role anywhere; else 403."""
    if not any(g.role not in (Role.APPLICANT,) for g in actor.grants):
        raise RoleNotPermitted("仅限工作人员 / officials only")
    return actor


async def _official(actor: CurrentReader) -> Actor:
    return require_official(actor)


Official = Annotated[Actor, Depends(_official)]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def now(state: StateDep) -> datetime:
    return state.clock()


Now = Annotated[datetime, Depends(now)]
