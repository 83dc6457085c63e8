"""Log in: OAuth2 password flow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form

from api.auth import login
from api.deps import CurrentReader, Now, StateDep, client_address
from api.schemas import PROBLEMS, MeOut, TokenOut

router = APIRouter(prefix="/api/v1", tags=["auth 登录"], responses=PROBLEMS)


@router.post(
    "/auth/token",
    response_model=TokenOut,
    summary="登录 / log in (OAuth2 password flow)",
    responses={401: {"description": "wrong credentials"}, 429: {"description": "throttled"}},
)
def token(
    state: StateDep,
    now: Now,
    address: Annotated[str, Depends(client_address)],
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
) -> TokenOut:
    issued = login(
        state.db, state.throttles, state.tokens, username=username, password=password, address=address, now=now
    )
    return TokenOut(access_token=issued, expires_in=state.tokens.minutes * 60)


@router.get("/me", response_model=MeOut, summary="当前用户 / who am I")
async def me(actor: CurrentReader) -> MeOut:
    return MeOut(
        username=actor.username,
        display_name=actor.display_name,
        grants=[{"role": g.role, "region": g.region_code} for g in actor.grants],
    )
