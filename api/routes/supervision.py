"""County supervision of delegated decisions: filings (备案), the county's visits, the monthly sample."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, Field

from api.deps import CallerDep, Now, Official, StateDep, in_read_unit
from api.schemas import PROBLEMS
from workflows.oversight.supervision import (
    FilingOut,
    SampleCheck,
    SampleOut,
    SupervisionOut,
    VisitOut,
    acknowledge_filing,
    draw_sample,
    file_with_county,
    overview,
    record_visit,
    verify_sample,
)

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision 县级监督"], responses=PROBLEMS)
ID = Path(ge=1, le=2**31 - 1)


class VisitIn(BaseModel):
    visit_date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    findings: str = Field(min_length=1, max_length=2000)


class SampleIn(BaseModel):
    county: str = Field(pattern=r"^\d{12}$")
    month: str = Field(pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$")
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)


@router.get("", response_model=SupervisionOut, summary="县级监督 / filings, county visits and samples of a region")
async def supervision(
    state: StateDep,
    actor: Official,
    now: Now,
    region: Annotated[str, Query(pattern=r"^\d{12}$", description="county, township or village code")],
) -> SupervisionOut:
    return await in_read_unit(state, lambda session: overview(session, actor=actor, region=region, now=now))


@router.post("/filings/{filing_id}/file", response_model=FilingOut, summary="报县备案 / the township files a decision")
async def file(filing_id: Annotated[int, ID], state: StateDep, caller: CallerDep, now: Now) -> FilingOut:
    return await caller.write(
        lambda session, actor: file_with_county(session, env=state.env, actor=actor, filing_id=filing_id, now=now)
    )


@router.post(
    "/filings/{filing_id}/acknowledge", response_model=FilingOut, summary="县级确认备案 / the county acknowledges"
)
async def acknowledge(filing_id: Annotated[int, ID], state: StateDep, caller: CallerDep, now: Now) -> FilingOut:
    return await caller.write(
        lambda session, actor: acknowledge_filing(session, env=state.env, actor=actor, filing_id=filing_id, now=now)
    )


@router.post("/visits/{visit_id}", response_model=VisitOut, summary="县级入户核查 / record the county's visit")
async def visit(
    visit_id: Annotated[int, ID], body: Annotated[VisitIn, Body()], state: StateDep, caller: CallerDep, now: Now
) -> VisitOut:
    return await caller.write(
        lambda session, actor: record_visit(
            session,
            env=state.env,
            actor=actor,
            visit_id=visit_id,
            visit_date=body.visit_date,
            findings=body.findings,
            now=now,
        )
    )


@router.post("/samples", response_model=SampleOut, status_code=201, summary="抽查 / draw a month's sample")
async def sample(body: Annotated[SampleIn, Body()], state: StateDep, caller: CallerDep, now: Now) -> SampleOut:
    return await caller.write(
        lambda session, actor: draw_sample(
            session, env=state.env, actor=actor, county=body.county, month=body.month, seed=body.seed, now=now
        )
    )


@router.get(
    "/samples/{sample_id}/verify", response_model=SampleCheck, summary="重新抽取核验 / redo a draw from its seed"
)
async def verify(sample_id: Annotated[int, ID], state: StateDep, actor: Official) -> SampleCheck:
    return await in_read_unit(state, lambda session: verify_sample(session, actor=actor, sample_id=sample_id))
