"""The household's receipt, printed again by a village officer: a new tracking code must be issued
(only the code's hash is kept), the old one stops working, and the re-issue is on the case's trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlmodel import Session
from starlette.responses import Response

from api.deps import StateDep
from api.web import qr
from api.web.errors import LoginRequired
from api.web.i18n import N_, catalog
from api.web.pages import _actor, check_csrf
from api.web.render import lang_of, render
from engine.access import Actor, Role
from engine.authorize import load_case
from engine.errors import RoleNotPermitted
from engine.tables import Case
from workflows import aidtypes
from workflows.tracking import reissue_tracking_code, submitted_at

router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])

REPRINTERS = (Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER)


def _officer_case(request: Request, session: Session, case_id: int) -> tuple[Actor, Case, str]:
    """The case and the role the logged-in officer reprints its receipt in (village first)."""
    actor = _actor(request, session)
    if actor is None:
        raise LoginRequired
    case = load_case(session, case_id, actor)
    roles = actor.roles_on(case.region_code)
    role = next((r for r in REPRINTERS if r in roles), None)
    if role is None:
        raise RoleNotPermitted("只有村、乡镇工作人员可以补打回执 / only village and township officers reprint receipts")
    return actor, case, role


@router.get("/receipts/{case_id}")
def reprint_form(request: Request, state: StateDep, case_id: Annotated[int, Path(ge=1, le=2**53)]) -> Response:
    with state.db.session(write=False) as session:
        case = _officer_case(request, session, case_id)[1]
        context = {"case": case, "aid_label": aidtypes.label_of(str(case.data.get("aid_type")))}
    return render(request, "public/reprint.html", context)


@router.post("/receipts/{case_id}")
def reprint(request: Request, state: StateDep, case_id: Annotated[int, Path(ge=1, le=2**53)]) -> Response:
    now = state.clock()
    with state.db.session(write=True) as session:
        actor, case, role = _officer_case(request, session, case_id)
        code = reissue_tracking_code(session, case=case, env=state.env, actor=actor.username, role=role, now=now)
        context = {
            "case": case,
            "code": code,
            "aid_label": aidtypes.label_of(str(case.data.get("aid_type"))),
            "submitted_at": submitted_at(case),
            "issued_at": now,
            "reissued": True,
        }
    target = qr.absolute(request, f"/track/{code}")
    words = catalog(lang_of(request))
    context |= {"qr": qr.svg(target, title=words.gettext(N_("扫码查询办理进度"))), "qr_address": target}
    return render(request, "public/receipt.html", context)
