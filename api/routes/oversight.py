"""Audit verification, payments (lines, bank files, the bank's results) and the reserve funds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Path, Query, Response, UploadFile
from pydantic import BaseModel, Field

from api import services
from api.deps import CallerDep, Now, Official, StateDep, in_read_unit
from api.schemas import PROBLEMS, VerifyOut
from engine.access import Role
from engine.auditlog import Checkpoint
from engine.calendar import SHANGHAI
from engine.errors import InvalidInput, RoleNotPermitted
from engine.tables import MAX_ID
from workflows.fields import FEN_LIMIT
from workflows.fund import FundOut, FundStatement, fund_ledger, fund_statement
from workflows.objections import objection_contact
from workflows.oversight.monthly import MonthlyReport, monthly_report, monthly_xlsx
from workflows.oversight.watchlist import WatchOut, record_follow_up, watch_list
from workflows.payments import PaymentLineOut, read_payment_lines
from workflows.recovery import RecoveryOut, record_recovery
from workflows.reports import FlagFilter, FlagOut, flags_xlsx, integrity_flags
from workflows.settlement import ReconcileResult, export_bank_file, pay_by_hand, reconcile

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
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


class RecoveryIn(BaseModel):
    """D4: the sum recovered from a household paid wrongly, and the fine for fraud (none: 0)."""

    amount_fen: int = Field(gt=0, lt=FEN_LIMIT)
    fine_fen: int = Field(default=0, ge=0, lt=FEN_LIMIT)
    reason: str = Field(min_length=1, max_length=200)


@router.get("/audit/verify", response_model=VerifyOut, summary="校验审计链 / verify the audit chain")
async def verify(state: StateDep, _actor: Official) -> VerifyOut:
    return await in_read_unit(state, services.verify)


class CheckpointIn(BaseModel):
    """A signed checkpoint as `aidflow audit checkpoint` wrote it."""

    seq: int = Field(ge=0, le=2**63 - 1)
    head: str = Field(pattern=r"^[0-9a-f]{64}$")
    at: str = Field(max_length=40)
    public_key: str = Field(max_length=100)
    signature: str = Field(max_length=200)


@router.post(
    "/audit/checkpoints/verify",
    response_model=VerifyOut,
    summary="按检查点校验审计链（纪检监察）/ verify the trail against a kept checkpoint (inspectors)",
)
async def verify_checkpoint(
    body: CheckpointIn,
    state: StateDep,
    actor: Official,
    public_key: Annotated[str | None, Query(max_length=100, description="the inspectors' own key, pinned")] = None,
) -> VerifyOut:
    if not actor.has_role(Role.INSPECTOR):
        raise RoleNotPermitted("仅限纪检监察人员 / inspectors only")
    kept = Checkpoint(body.seq, body.head, body.at, body.public_key, body.signature)
    if public_key is not None and kept.public_key != public_key.strip():
        raise InvalidInput("检查点不是由指定密钥签名的 / the checkpoint was not signed by the given public key")
    try:
        signed = kept.signature_valid()
    except ValueError:
        signed = False
    if not signed:
        raise InvalidInput("检查点签名无效 / the checkpoint's signature does not verify")
    return await in_read_unit(state, lambda session: services.verify(session, kept))


@router.get("/payments", response_model=list[PaymentLineOut], summary="发放明细 / payment lines in my scope")
async def payments(
    state: StateDep,
    _official: Official,
    caller: CallerDep,
    now: Now,
    month: Annotated[str, Query(pattern=MONTH, description="YYYY-MM")],
    township: Annotated[str | None, Query(pattern=REGION, description="one township only")] = None,
) -> list[PaymentLineOut]:
    # Names, villages and masked accounts are personal data: the reading goes on the trail.
    return await caller.write(
        lambda session, actor: read_payment_lines(
            session, actor=actor, month=month, env=state.env, now=now, township=township
        )
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


@router.post(
    "/applications/{case_id}/recoveries",
    response_model=RecoveryOut,
    status_code=201,
    summary="登记追回款项和罚款 / record money recovered from a household paid wrongly, and the fine (D4)",
)
async def recoveries(
    case_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: RecoveryIn, state: StateDep, caller: CallerDep, now: Now
) -> RecoveryOut:
    return await caller.write(
        lambda session, actor: record_recovery(
            session,
            env=state.env,
            actor=actor,
            case_id=case_id,
            amount_fen=body.amount_fen,
            fine_fen=body.fine_fen,
            reason=body.reason,
            now=now,
        )
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
    responses={200: {"content": {XLSX: {}}}},
    summary="问题线索 / what looks wrong in my scope: missed clocks, refused attempts, filed relatives",
)
async def flags_report(
    state: StateDep,
    actor: Official,
    kind: Annotated[str | None, Query(max_length=40, description="only flags of this kind")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{12}$", description="only flags at or below this region")] = None,
    since: Annotated[datetime | None, Query(description="only flags at or after this moment")] = None,
    until: Annotated[datetime | None, Query(description="only flags before this moment")] = None,
    official: Annotated[str | None, Query(max_length=64, description="only flags naming this official")] = None,
    format: Annotated[str, Query(pattern="^(json|xlsx)$")] = "json",
    *,
    now: Now,
) -> Any:
    only = FlagFilter(kind=kind, region=region, since=_aware(since), until=_aware(until), official=official)
    found = await in_read_unit(
        state, lambda session: integrity_flags(session, actor=actor, env=state.env, only=only, now=now)
    )
    if format == "xlsx":
        return Response(
            flags_xlsx(found), media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="flags.xlsx"'}
        )
    return found


def _aware(moment: datetime | None) -> datetime | None:
    """A moment given without a zone is read as Shanghai time, as officials write it."""
    return moment.replace(tzinfo=SHANGHAI) if moment is not None and moment.tzinfo is None else moment


@router.get(
    "/reports/monthly",
    response_model=MonthlyReport,
    summary="月通报 / the monthly report of a region (format=xlsx for Excel)",
    responses={200: {"content": {XLSX: {}}}},
)
async def monthly(
    state: StateDep,
    actor: Official,
    region: Annotated[str, Query(pattern=r"^\d{12}$", description="county, township or village code")],
    month: Annotated[str, Query(pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
    format: Annotated[str, Query(pattern="^(json|xlsx)$")] = "json",
) -> Any:
    report = await in_read_unit(state, lambda session: monthly_report(session, actor=actor, region=region, month=month))
    if format == "xlsx":
        name = f"monthly-{region}-{month}.xlsx"
        return Response(
            monthly_xlsx(report), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )
    return report


@router.get(
    "/reports/watchlist",
    response_model=list[WatchOut],
    summary="潜在救助对象 / refused, withdrawn and exited households still in hardship, with their next follow-up",
)
async def watchlist(state: StateDep, actor: Official, now: Now) -> list[WatchOut]:
    return await in_read_unit(state, lambda session: watch_list(session, env=state.env, actor=actor, now=now))


@router.post(
    "/reports/watchlist/{case_id}/follow-ups",
    response_model=WatchOut | None,
    summary="登记回访 / record a follow-up visit to a watched household",
)
async def follow_up(
    case_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    state: StateDep,
    caller: CallerDep,
    now: Now,
    note: Annotated[str, Body(min_length=1, max_length=2000)],
    still_in_need: Annotated[bool, Body()] = True,
) -> WatchOut | None:
    return await caller.write(
        lambda session, actor: record_follow_up(
            session, env=state.env, actor=actor, case_id=case_id, note=note, still_in_need=still_in_need, now=now
        )
    )


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
