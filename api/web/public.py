"""Pages for the public, no login: tracking a case or an objection by its code, a region's notice
board and its printable sheet, the objection form and its receipt."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from babel.dates import format_date
from fastapi import APIRouter, Depends, Form, Query, Request
from sqlmodel import Session, col, select
from starlette.responses import RedirectResponse, Response

from api import deps, services
from api.deps import StateDep
from api.web import qr
from api.web.i18n import N_, catalog, pick
from api.web.pages import check_csrf
from api.web.render import lang_of
from api.web.render import render as render_page
from engine.calendar import SHANGHAI
from engine.errors import InvalidInput, NotFound, TooManyRequests
from engine.tables import Region
from workflows import codes
from workflows.board import Board, open_notice, region_board
from workflows.tracking import find_by_tracking_code, find_objection, household_view, objection_status

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])

MAX_CODE = 64


def yuan(fen: int, lang: str) -> str:
    """480.00元 / ¥480.00: whole-number arithmetic, as the board and the tracking page show money."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}元" if lang == "zh" else f"{sign}¥{whole:,}.{cents:02d}"


def month(value: date, lang: str) -> str:
    return f"{value.year}年{value.month}月" if lang == "zh" else format_date(value, "MMMM y", locale="en_GB")


def short_day(value: datetime, lang: str) -> str:
    local = value.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日" if lang == "zh" else format_date(local.date(), "d MMM", locale="en_GB")


def span(starts: datetime, ends: datetime, lang: str) -> str:
    """12月1日至12月7日: the notice's first and last day, in Beijing (it ends at the start of `ends`' day
    when that is midnight)."""
    last = ends.astimezone(SHANGHAI)
    if last.time() == time(0, 0):
        last = last - timedelta(days=1)
    sep = "至" if lang == "zh" else " to "
    return f"{short_day(starts, lang)}{sep}{short_day(last, lang)}"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A public page: the money, months and notice periods written as the reader's language writes them."""
    lang = lang_of(request)
    helpers: dict[str, Any] = {
        "yuan": lambda fen: yuan(fen, lang),
        "month": lambda value: month(value, lang),
        "span": lambda starts, ends: span(starts, ends, lang),
    }
    return render_page(request, template, {**helpers, **context}, status=status, headers=headers)


def _shown_code(typed: str) -> str:
    """The code as it goes in the address: a new-style code in its printed groups, an older one as typed."""
    normal = codes.normalise(typed)
    if codes.is_new_style(normal):
        return codes.grouped(normal)
    receipt = codes.receipt_form(typed)
    return receipt or typed.strip()


@router.get("/track")
def track_form(request: Request, code: Annotated[str | None, Query(max_length=MAX_CODE)] = None) -> Response:
    if code and code.strip():
        return RedirectResponse(f"/track/{quote(_shown_code(code), safe='')}", status_code=303)
    return render(request, "public/track_form.html", {"errors": [], "code": ""})


@router.get("/track/{code}")
def track(
    request: Request, state: StateDep, code: str, address: Annotated[str, Depends(deps.client_address)]
) -> Response:
    shown = _shown_code(code[:MAX_CODE])
    if shown != code:  # typed in lower case or with spaces: the address shows the code as printed
        return RedirectResponse(f"/track/{quote(shown, safe='')}", status_code=303)
    lang = lang_of(request)
    words = catalog(lang)
    try:
        state.throttles.track_address.check(address, "查询过于频繁 / too many look-ups")
        state.throttles.track_misses.check(address, "查询码错误次数过多 / too many unknown codes")
    except TooManyRequests as exc:
        errors = [("code", pick(str(exc.detail), lang))]
        return render(
            request,
            "public/track_form.html",
            {"errors": errors, "code": code},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    state.throttles.track_address.hit(address)
    now = state.clock()
    found: dict[str, Any] | None = None
    with state.db.session(write=False) as session:
        case = find_by_tracking_code(session, env=state.env, code=code[:MAX_CODE])
        if case is not None:
            found = household_view(session, env=state.env, case=case, lang=lang, now=now)
        else:
            objection = find_objection(session, code[:MAX_CODE])
            if objection is not None:
                found = objection_status(objection, lang)
    if found is None:
        state.throttles.track_misses.hit(address)
        errors = [("code", words.gettext(N_("没有找到这个查询码。请核对回执上的查询码后重新输入。")))]
        return render(request, "public/track_form.html", {"errors": errors, "code": code[:MAX_CODE]}, status=404)
    template = "public/track_objection.html" if found["kind"] == "objection" else "public/track_case.html"
    return render(request, template, {"status": found, "code": _shown_code(code)})


def _regions(session: Session) -> list[Region]:
    return list(session.exec(select(Region).order_by(col(Region.code))).all())


def _board(
    state: StateDep, village: str | None, page: int, *, per_page: int | None = None
) -> tuple[Board | None, list[Region]]:
    with state.db.session(write=False) as session:
        regions = _regions(session)
        if not village:
            return None, regions
        board = region_board(
            session, env=state.env, region_code=village, now=state.clock(), page=page, per_page=per_page
        )
    if board is None:
        raise NotFound(f"没有这个地区 / no region has the code {village}")
    return board, regions


@router.get("/notices")
def notices(
    request: Request,
    state: StateDep,
    village: Annotated[str | None, Query(max_length=12, pattern=r"^\d{0,12}$")] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    board, regions = _board(state, village, page)
    return render(request, "public/board.html", {"board": board, "regions": regions})


@router.get("/notices/print")
def notices_print(
    request: Request,
    state: StateDep,
    village: Annotated[str, Query(max_length=12, pattern=r"^\d{12}$")],
) -> Response:
    board, _unused = _board(state, village, 1, per_page=500)
    assert board is not None
    target = qr.absolute(request, f"/notices/object?village={board.region_code}")
    words = catalog(lang_of(request))
    code = qr.svg(target, title=words.gettext(N_("扫码提出异议")))
    context = {"board": board, "qr": code, "qr_address": target, "printed_at": state.clock()}
    return render(request, "public/board_print.html", context)


def _objection_form(
    request: Request, state: StateDep, village: str | None, notice: int | None, **extra: Any
) -> Response:
    now = state.clock()
    with state.db.session(write=False) as session:
        chosen = open_notice(session, notice_id=notice, now=now) if notice else None
        board = None
        if village or chosen is not None:
            board = region_board(
                session,
                env=state.env,
                region_code=village or (chosen.village_code if chosen else ""),
                now=now,
                per_page=500,
            )
    context = {"board": board, "chosen": chosen, "errors": [], "reason": "", "contact": "", **extra}
    return render(request, "public/object_form.html", context, status=400 if context["errors"] else 200)


@router.get("/notices/object")
def objection_form(
    request: Request,
    state: StateDep,
    village: Annotated[str | None, Query(max_length=12, pattern=r"^\d{0,12}$")] = None,
    notice: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> Response:
    return _objection_form(request, state, village or None, notice)


@router.post("/notices/object")
def object_to(
    request: Request,
    state: StateDep,
    address: Annotated[str, Depends(deps.client_address)],
    notice: Annotated[int | None, Form(ge=1, le=2**53)] = None,
    village: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    contact: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    lang = lang_of(request)
    words = catalog(lang)
    errors: list[tuple[str, str]] = []
    if notice is None:
        errors.append(("notice", words.gettext(N_("请选择对哪一户提出异议"))))
    if not reason.strip():
        errors.append(("reason", words.gettext(N_("请写明异议理由"))))
    if not errors:
        try:
            state.throttles.objections.check(address, "提交过于频繁 / too many objections from this address")
            state.throttles.objections.hit(address)
            now = state.clock()
            assert notice is not None
            with state.db.session(write=True) as session:
                receipt = services.object_to(
                    session, state.env, notice_id=notice, reason=reason, contact=contact or None, now=now
                )
        except (NotFound, InvalidInput, TooManyRequests) as exc:
            errors.append(("reason", pick(str(exc.detail), lang)))
        else:
            target = qr.absolute(request, f"/track/{receipt.receipt_code}")
            code = qr.svg(target, title=words.gettext(N_("扫码查询异议处理进度")))
            return render(request, "public/object_receipt.html", {"receipt": receipt, "qr": code, "qr_address": target})
    return _objection_form(request, state, village or None, notice, errors=errors, reason=reason, contact=contact)
