"""Audit verification, payments (lines, bank files, the bank's results) and the reserve funds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api import services
from api.deps import CallerDep, Now, Official, StateDep, in_read_unit
from api.schemas import PROBLEMS, VerifyOut
from engine.errors import InvalidInput
from workflows.fund import FundOut, FundStatement, fund_ledger, fund_statement
from workflows.objections import objection_contact
from workflows.payments import (
    PaymentLineOut,
    ReconcileResult,
    export_bank_file,
    pay_by_hand,
    payment_lines,
    reconcile,
)
from workflows.reports import FlagOut, integrity_flags

router = APIRouter(prefix="/api/v1", tags=["oversight 监督"], responses=PROBLEMS)
MONTH = r"^[1-9]\d{3}-(0[1-9]|1[0-2])$"
REGION = r"^\d{12}$"
MAX_RESULT_FILE = 4 * 1024 * 1024
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class ExportIn(BaseModel):
    month: str = Field(pattern=MONTH)
    township: str = Field(pattern=REGION)
    format: str = Field(pattern=r"^(csv|xlsx)$")


class ByHandIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


@router.get("/audit/verify", response_model=VerifyOut, summary="校验审计链 / verify the audit chain")
async def verify(state: StateDep, _actor: Official) -> VerifyOut:
    return await in_read_unit(state, services.verify)


@router.get("/payments", response_model=list[PaymentLineOut], summary="发放明细 / payment lines in my scope")
async def payments(
    state: StateDep,
    actor: Official,
    month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM")],
    township: Annotated[str | None, Query(pattern=REGION, description="one township only")] = None,
) -> list[PaymentLineOut]:
    return await in_read_unit(
        state, lambda session: payment_lines(session, actor=actor, month=month, env=state.env, township=township)
    )


@router.post(
    "/payments/export",
    summary="导出银行代发文件 / the township's bank file for a month (a repeated export is the same file)",
    response_class=Response,
)
async def payments_export(body: Annotated[ExportIn, Body()], state: StateDep, caller: CallerDep, now: Now) -> Response:
    made = await caller.write(
        lambda session, actor: export_bank_file(
            session, env=state.env, actor=actor, month=body.month, township=body.township, fmt=body.format, now=now
        )
    )
    return Response(
        content=made.content,
        media_type=MEDIA[made.format],
        headers={
            # The name is made here from the codes alone, never from anything a client sent.
            "Content-Disposition": f'attachment; filename="{made.filename}"',
            "X-Batch-Count": str(made.count),
            "X-Batch-Total-Fen": str(made.total_fen),
            "X-SHA256": made.sha256,
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/payments/reconcile",
    response_model=ReconcileResult,
    summary="导入银行回盘文件 / the bank's result file (CSV or XLSX: reference, status, reason); idempotent",
)
async def payments_reconcile(
    file: Annotated[UploadFile, File(description="CSV or XLSX; its name is not used")],
    state: StateDep,
    caller: CallerDep,
    now: Now,
    township: Annotated[str | None, Form(pattern=REGION)] = None,
) -> ReconcileResult:
    content = await file.read(MAX_RESULT_FILE + 1)
    if len(content) > MAX_RESULT_FILE:
        raise InvalidInput(f"文件超过 {MAX_RESULT_FILE // 1024} KiB / the file is over {MAX_RESULT_FILE // 1024} KiB")
    return await caller.write(
        lambda session, actor: reconcile(session, actor=actor, content=content, now=now, township=township)
    )


@router.post(
    "/payments/{reference}/paid-by-hand",
    response_model=PaymentLineOut,
    summary="手工发放 / a failed or held line paid by hand, with the reason",
)
async def payments_paid_by_hand(
    reference: Annotated[str, Path(pattern=r"^PAY\d{6}-\d{8}$")],
    body: Annotated[ByHandIn, Body()],
    caller: CallerDep,
    now: Now,
) -> PaymentLineOut:
    return await caller.write(
        lambda session, actor: pay_by_hand(session, actor=actor, reference=reference, reason=body.reason, now=now)
    )


@router.get("/funds/{region}", response_model=FundOut, summary="备用金余额和流水 / a reserve fund's balance and ledger")
async def fund(
    region: Annotated[str, Path(pattern=REGION)],
    state: StateDep,
    actor: Official,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> FundOut:
    return await in_read_unit(state, lambda session: fund_ledger(session, actor=actor, region=region, limit=limit))


@router.get(
    "/funds/{region}/statement", response_model=FundStatement, summary="备用金月度对账单 / a fund's monthly statement"
)
async def fund_month(
    region: Annotated[str, Path(pattern=REGION)],
    state: StateDep,
    actor: Official,
    month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM")],
) -> FundStatement:
    return await in_read_unit(state, lambda session: fund_statement(session, actor=actor, region=region, month=month))


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
