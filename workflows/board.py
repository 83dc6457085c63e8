"""One region's notice board, as a village pins it up: running notices, and those under objection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Exists, and_, exists, func, or_
from sqlmodel import Session, col, select

from engine.access import region_prefix
from engine.tables import Case, Region
from workflows.base import CASES
from workflows.models import Notice, Objection
from workflows.notices import shown

if TYPE_CHECKING:
    from workflows.env import Env

PER_PAGE = 20


@dataclass(frozen=True)
class Listing:
    """One household on the board: masked, never an identity number, phone, address or account."""

    id: int
    reference: str
    name: str
    village: str
    village_code: str
    household_size: int
    aid_type: str
    aid_type_label: str
    amount_fen: int | None
    stage: str
    stage_label: str
    starts: datetime
    ends: datetime
    under_objection: bool  # 异议核查中: stays on the board until the township's finding


@dataclass(frozen=True)
class Board:
    region_code: str
    region_name: str
    listings: list[Listing]
    total: int
    page: int
    pages: int
    objection_contact: str  # where to take an objection, from the policy of the region


def _pending_objection() -> Exists:
    return exists().where(col(Objection.notice_id) == col(Notice.id), col(Objection.outcome).is_(None))


def region_board(
    session: Session, *, env: Env, region_code: str, now: datetime, page: int = 1, per_page: int | None = None
) -> Board | None:
    """The board of a village (or of a township or county: all their villages), page by page; None
    for a region that does not exist."""
    region = session.get(Region, region_code)
    if region is None:
        return None
    pending = _pending_objection()
    where = and_(
        col(Notice.posted).is_(True),
        col(Notice.starts) <= now,
        col(Notice.region_code).startswith(region_prefix(region_code)),
        or_(
            and_(col(Notice.ends) > now, CASES.state == Notice.state, CASES.entered_version == Notice.entered_version),
            pending,
        ),
    )
    base = select(Notice).join(Case, col(Case.id) == col(Notice.case_id)).where(where)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    size = per_page or PER_PAGE
    pages = max(1, -(-int(total) // size))
    page = min(max(page, 1), pages)
    rows = session.exec(
        select(Notice, Region.name, pending.label("pending"))
        .join(Case, col(Case.id) == col(Notice.case_id))
        .join(Region, col(Region.code) == col(Notice.region_code))
        .where(where)
        .order_by(col(Notice.region_code), col(Notice.ends), col(Notice.id))
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    listings = [Listing(**shown(n, village), under_objection=bool(under)) for n, village, under in rows]
    contact_region = region_code if region.level != "village" else (region.parent_code or region_code)
    return Board(
        region_code=region.code,
        region_name=region.name,
        listings=listings,
        total=int(total),
        page=page,
        pages=pages,
        objection_contact=env.rules(contact_region, now).objection_contact,
    )


def open_notice(session: Session, *, notice_id: int, now: datetime) -> Listing | None:
    """A notice the public may object to now (running), for the objection form."""
    notice = session.get(Notice, notice_id)
    if notice is None or not notice.posted:
        return None
    case = session.get(Case, notice.case_id)
    region = session.get(Region, notice.region_code)
    if case is None or region is None:
        return None
    running = (
        case.state == notice.state
        and case.entered_version == notice.entered_version
        and notice.starts <= now < notice.ends
    )
    pending = (case.data.get("objection") or {}).get("notice_id") == notice.id and case.state == "objection_review"
    if not running and not pending:
        return None
    return Listing(**shown(notice, region.name), under_objection=pending)
