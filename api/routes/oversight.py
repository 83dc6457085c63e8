"""Audit verification and payments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api import services
from api.deps import CallerDep, Now, Official, StateDep, in_read_unit
from api.schemas import PROBLEMS, VerifyOut
from workflows.objections import objection_contact
from workflows.payments import PaymentLineOut, payment_lines
from workflows.reports import FlagOut, integrity_flags

router = APIRouter(prefix="/api/v1", tags=["oversight 监督"], responses=PROBLEMS)


@router.get("/audit/verify", response_model=VerifyOut, summary="校验审计链 / verify the audit chain")
async def verify(state: StateDep, _actor: Official) -> VerifyOut:
    return await in_read_unit(state, services.verify)


@router.get("/payments", response_model=list[PaymentLineOut], summary="发放明细 / payment lines in my scope")
async def payments(
    state: StateDep,
    actor: Official,
    month: Annotated[str, Query(pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
) -> list[PaymentLineOut]:
    return await in_read_unit(state, lambda session: payment_lines(session, actor=actor, month=month))


@router.get(
    "/reports/flags",
    response_model=list[FlagOut],
    summary="问题线索 / what looks wrong in my scope: missed clocks, refused attempts, filed relatives",
)
async def flags_report(state: StateDep, actor: Official) -> list[FlagOut]:
    return await in_read_unit(state, lambda session: integrity_flags(session, actor=actor))


@router.get(
    "/objections/{objection_id}/contact",
    summary="异议人联系方式（仅纪检监察）/ an objector's contact (inspectors only; the read is audited)",
)
async def objection_contact_for_inspector(
    objection_id: Annotated[int, Path(description="the objection's id (404 when unknown)")],
    state: StateDep,
    caller: CallerDep,
    now: Now,
) -> dict[str, Any]:
    contact = await caller.write(
        lambda session, actor: objection_contact(
            session, env=state.env, actor=actor, objection_id=objection_id, now=now
        )
    )
    return {"objection_id": objection_id, "contact": contact}
