"""No login: case tracking by code, the notice board, objections."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from api import services
from api.deps import Now, StateDep, client_address, in_read_unit, in_write_unit
from api.schemas import PROBLEMS, ObjectionIn, ObjectionTrackOut, TrackOut
from engine.errors import NotFound
from workflows.notices import NoticeOut, running_notices
from workflows.objections import ObjectionReceipt
from workflows.standing import StandingList, standing_list
from workflows.tracking import find_by_tracking_code, find_objection, objection_status, plain_status

router = APIRouter(prefix="/api/v1", tags=["public 公开"], responses=PROBLEMS)


@router.get(
    "/track/{code}",
    response_model=TrackOut | ObjectionTrackOut,
    summary="查询办理进度 / track an application, or an objection, by the code on its receipt",
    responses={429: {"description": "too many look-ups or unknown codes from this address (see Retry-After)"}},
)
async def track(
    code: Annotated[str, Path(min_length=8, max_length=64)],
    state: StateDep,
    now: Now,
    address: Annotated[str, Depends(client_address)],
    lang: Annotated[str, Query(pattern="^(zh|en)$")] = "zh",
) -> dict[str, Any]:
    state.throttles.track_address.check(address, "查询过于频繁 / too many look-ups")
    state.throttles.track_misses.check(address, "查询码错误次数过多 / too many unknown codes")
    state.throttles.track_address.hit(address)

    def look_up(session: Session) -> dict[str, Any] | None:
        case = find_by_tracking_code(session, env=state.env, code=code)
        if case is not None:
            return plain_status(session, env=state.env, case=case, lang=lang, now=now)
        objection = find_objection(session, code)
        return None if objection is None else objection_status(objection, lang)

    found = await in_read_unit(state, look_up)
    if found is None:
        state.throttles.track_misses.hit(address)
        raise NotFound("查询码无效 / no application has this tracking code")
    return found


@router.get("/notices", response_model=list[NoticeOut], summary="公示栏 / notices running now")
async def notices(state: StateDep, now: Now) -> list[NoticeOut]:
    return await in_read_unit(state, lambda session: list(running_notices(session, env=state.env, now=now)))


@router.get(
    "/notices/standing",
    response_model=StandingList,
    summary="长期公示 / a village's current beneficiaries, masked (特困 minors not listed)",
)
async def standing(
    state: StateDep, now: Now, village: Annotated[str, Query(pattern=r"^\d{12}$", description="village code")]
) -> StandingList:
    return await in_read_unit(state, lambda session: standing_list(session, env=state.env, village=village, now=now))


@router.post(
    "/notices/{notice_id}/objections",
    status_code=201,
    response_model=ObjectionReceipt,
    summary="提出异议 / object to a listed case (anonymous allowed)",
)
async def object_to_notice(
    notice_id: Annotated[int, Path(description="the notice's id (404 when unknown or ended)")],
    body: ObjectionIn,
    state: StateDep,
    now: Now,
    address: Annotated[str, Depends(client_address)],
) -> ObjectionReceipt:
    state.throttles.objections.check(address, "提交过于频繁 / too many objections from this address")
    state.throttles.objections.hit(address)
    return await in_write_unit(
        state,
        lambda session: services.object_to(
            session, state.env, notice_id=notice_id, reason=body.reason, contact=body.contact, now=now
        ),
    )
