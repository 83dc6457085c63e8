"""Applications: create, read, act, audit trail, and the officials' queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api import services
from api.deps import CallerDep, CurrentReader, Now, Official, StateDep, in_read_unit
from api.schemas import (
    ACTION_EXAMPLES,
    PROBLEMS,
    ActionIn,
    ApplicationOut,
    AuditOut,
    Page,
    QueueOut,
    action_reference,
)
from engine.authorize import load_case
from engine.tables import MAX_ID
from workflows.schemas import ApplicationIn

router = APIRouter(prefix="/api/v1", tags=["applications 申请"], responses=PROBLEMS)

CaseId = Annotated[int, Path(description="the case's id; one that does not exist, or is outside your scope, is 404")]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "/applications",
    status_code=201,
    response_model=ApplicationOut,
    summary="提交申请 / submit an application",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ApplicationIn"},
                    "examples": {
                        f"example_{i}": {"value": v}
                        for i, v in enumerate(ApplicationIn.model_config["json_schema_extra"]["examples"])  # type: ignore[index,arg-type]
                    },
                }
            },
        }
    },
)
async def create_application(
    body: Annotated[bytes, Depends(_raw_body)], state: StateDep, caller: CallerDep, now: Now
) -> ApplicationOut:
    return await caller.write(lambda session, actor: services.create(session, state.env, actor, body, now))


@router.get("/applications", response_model=Page, summary="我可见的申请 / applications in my scope")
async def list_applications(
    state: StateDep,
    actor: CurrentReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    state_name: Annotated[str | None, Query(alias="state", max_length=40)] = None,
) -> Page:
    items, nxt = await in_read_unit(
        state,
        lambda session: services.list_cases(session, state.env, actor, limit=limit, after=after, state=state_name),
    )
    return Page(items=items, next_cursor=str(nxt) if nxt else None)


@router.get("/applications/{case_id}", response_model=ApplicationOut, summary="查看申请 / read an application")
async def get_application(case_id: CaseId, state: StateDep, caller: CallerDep, now: Now) -> ApplicationOut:
    # The read of personal data is an audit entry: a write.
    return await caller.write(
        lambda session, actor: services.application_view(
            session, state.env, actor, load_case(session, case_id, actor), now
        )
    )


@router.post(
    "/applications/{case_id}/actions/{action}",
    response_model=ApplicationOut,
    summary="办理 / act on an application",
    description=action_reference(),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": ActionIn.model_json_schema(ref_template="#/components/schemas/{model}"),
                    "examples": {name: {"value": value} for name, value in ACTION_EXAMPLES.items()},
                }
            },
        }
    },
    responses={
        403: {"description": "role may never fire it"},
        404: {"description": "outside your scope"},
        409: {"description": "not available in this state, or version stale"},
        422: {"description": "invalid body, or a guard refused (reasons in detail)"},
    },
)
async def act(
    case_id: CaseId,
    action: Annotated[str, Path(max_length=64, pattern=r"^[a-z_]+$")],
    state: StateDep,
    caller: CallerDep,
    now: Now,
    body: Annotated[bytes, Depends(_raw_body)],
) -> ApplicationOut:
    return await caller.write(
        lambda session, actor: services.act(
            session, state.env, actor, case_id=case_id, action=action, body=body, now=now
        )
    )


@router.get(
    "/applications/{case_id}/audit", response_model=list[AuditOut], summary="案件审计记录 / the case's audit trail"
)
async def application_audit(case_id: CaseId, state: StateDep, actor: CurrentReader) -> list[AuditOut]:
    return await in_read_unit(state, lambda session: services.case_audit(session, actor, case_id))


@router.get(
    "/queue",
    response_model=QueueOut,
    summary="待办 / my work queue, soonest deadline first",
    description="The cases the caller can act on now: those with a deadline first, soonest first, then "
    "undated work by id. `counts` are of this whole queue (not of everything in scope); `village`, "
    "`state` and `aid_type` narrow the items, not the counts.",
)
async def my_queue(
    state: StateDep,
    actor: Official,
    now: Now,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    village: Annotated[str | None, Query(max_length=12)] = None,
    state_name: Annotated[str | None, Query(alias="state", max_length=40)] = None,
    aid_type: Annotated[str | None, Query(max_length=20)] = None,
) -> QueueOut:
    only = services.QueueFilter(village=village, state=state_name, aid_type=aid_type)
    return await in_read_unit(
        state,
        lambda session: services.queue(session, state.env, actor, limit=limit, cursor=cursor, now=now, only=only),
    )
