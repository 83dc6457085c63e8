"""The township's finance pages: a month's payments with totals, the bank file, the bank's results, the fund."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from starlette.responses import Response

from api import deps
from api.deps import StateDep
from api.errors import status_of
from api.web.errors import LoginRequired
from api.web.i18n import pick
from api.web.pages import _actor, check_csrf
from api.web.render import lang_of, render
from engine.access import Actor, Role, region_level
from engine.errors import InvalidInput, WorkflowError
from engine.tables import Region
from workflows.fund import fund_ledger, fund_statement
from workflows.payments import PaymentLineOut, month_of, read_payment_lines
from workflows.settlement import ReconcileResult, export_bank_file, pay_by_hand, reconcile

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
MONTH = re.compile(r"[1-9]\d{3}-(0[1-9]|1[0-2])")
REGION = r"^\d{12}$"
MAX_RESULT_FILE = 4 * 1024 * 1024
STATUSES = ("pending", "exported", "paid", "failed")
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True)
class Total:
    status: str
    count: int
    fen: int


@dataclass(frozen=True)
class FinanceView:
    month: str
    township: str
    township_name: str
    lines: list[PaymentLineOut]
    totals: list[Total]
    held: list[PaymentLineOut]
    failed: list[PaymentLineOut]
    total_fen: int


def _township_of(actor: Actor, asked: str | None) -> str | None:
    """The township the page is about: the one asked for, else the officer's own."""
    if asked:
        return asked
    for g in actor.grants:
        if g.role == Role.TOWNSHIP_OFFICER and region_level(g.region_code) == "township":
            return g.region_code
    return None


def _view(state: deps.AppState, actor: Actor, month: str, township: str) -> FinanceView:
    # The list names households and shows their accounts' last digits: the reading is recorded.
    with state.db.session() as session:
        region = session.get(Region, township)
        lines = read_payment_lines(
            session, actor=actor, month=month, env=state.env, now=state.clock(), township=township, where="page"
        )
    totals = [
        Total(s, sum(1 for x in lines if x.status == s), sum(x.amount_fen for x in lines if x.status == s))
        for s in STATUSES
    ]
    return FinanceView(
        month=month,
        township=township,
        township_name=region.name if region is not None else township,
        lines=lines,
        totals=totals,
        held=[x for x in lines if x.held_reason and x.status == "pending"],
        failed=[x for x in lines if x.status == "failed"],
        total_fen=sum(x.amount_fen for x in lines),
    )


def _page(
    request: Request,
    state: deps.AppState,
    actor: Actor,
    month: str,
    township: str | None,
    *,
    result: ReconcileResult | None = None,
    problems: Sequence[str] = (),
    status: int = 200,
) -> Response:
    view = _view(state, actor, month, township) if township else None
    context = {"view": view, "month": month, "township": township or "", "result": result, "problems": list(problems)}
    return render(request, "payments.html", context, status=status)


def _refused(
    request: Request, state: deps.AppState, actor: Actor, month: str, township: str, exc: WorkflowError
) -> Response:
    """The page again, with the refusal in the reader's language and the error's own status."""
    problems = [pick(exc.detail, lang_of(request))]
    return _page(request, state, actor, _month(month, state), township, problems=problems, status=status_of(exc))


def _official(request: Request, state: deps.AppState) -> Actor:
    with state.db.session(write=False) as session:
        actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    return deps.require_official(actor)


def _month(month: str | None, state: deps.AppState) -> str:
    return month if month and MONTH.fullmatch(month) else month_of(state.clock())


@router.get("/payments")
def payments_page(
    request: Request,
    state: StateDep,
    month: Annotated[str | None, Query(max_length=7)] = None,
    township: Annotated[str | None, Query(pattern=REGION)] = None,
) -> Response:
    actor = _official(request, state)
    return _page(request, state, actor, _month(month, state), _township_of(actor, township))


@router.post("/payments/export")
def payments_export_page(
    request: Request,
    state: StateDep,
    month: Annotated[str, Form(max_length=7)],
    township: Annotated[str, Form(pattern=REGION)],
    format: Annotated[str, Form(pattern=r"^(csv|xlsx)$")],
) -> Response:
    actor = _official(request, state)
    try:
        with state.db.session(write=True) as session:
            made = export_bank_file(
                session, env=state.env, actor=actor, month=month, township=township, fmt=format, now=state.clock()
            )
    except WorkflowError as exc:
        return _refused(request, state, actor, month, township, exc)
    return Response(
        content=made.content,
        media_type=MEDIA[made.format],
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"', "Cache-Control": "no-store"},
    )


@router.post("/payments/reconcile")
def payments_reconcile_page(
    request: Request,
    state: StateDep,
    month: Annotated[str, Form(max_length=7)],
    township: Annotated[str, Form(pattern=REGION)],
    file: Annotated[UploadFile, File()],
) -> Response:
    actor = _official(request, state)
    # The upload is read as bytes alone: its file name is never looked at.
    content = file.file.read(MAX_RESULT_FILE + 1)
    try:
        if len(content) > MAX_RESULT_FILE:
            raise InvalidInput(
                f"文件超过 {MAX_RESULT_FILE // 1024} KiB / the file is over {MAX_RESULT_FILE // 1024} KiB"
            )
        with state.db.session(write=True) as session:
            result = reconcile(session, actor=actor, content=content, now=state.clock(), township=township)
    except WorkflowError as exc:
        return _refused(request, state, actor, month, township, exc)
    return _page(request, state, actor, _month(month, state), township, result=result)


@router.post("/payments/paid-by-hand")
def payments_by_hand_page(
    request: Request,
    state: StateDep,
    month: Annotated[str, Form(max_length=7)],
    township: Annotated[str, Form(pattern=REGION)],
    reference: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    actor = _official(request, state)
    try:
        with state.db.session(write=True) as session:
            pay_by_hand(session, actor=actor, reference=reference, reason=reason, now=state.clock())
    except WorkflowError as exc:
        return _refused(request, state, actor, month, township, exc)
    return _page(request, state, actor, _month(month, state), township)


@router.get("/funds/{code}")
def fund_page(
    request: Request,
    state: StateDep,
    code: Annotated[str, Path(pattern=REGION)],
    month: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    actor = _official(request, state)
    shown = _month(month, state)
    with state.db.session(write=False) as session:
        ledger = fund_ledger(session, actor=actor, region=code)
        statement = fund_statement(session, actor=actor, region=code, month=shown)
    return render(request, "fund.html", {"ledger": ledger, "statement": statement, "month": shown})
