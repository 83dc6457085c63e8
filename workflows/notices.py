"""The public notice board: notices posted when a case enters a notice stage, and the board itself."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from engine.calendar import local_date
from engine.runtime import TransitionRecord
from engine.secrets import mask_name
from engine.tables import Case, Region
from workflows import aidtypes
from workflows.base import CASES, is_minor, notice_stages
from workflows.guards import members
from workflows.models import (
    Notice,
)

if TYPE_CHECKING:
    from workflows.env import Env


class NoticeOut(BaseModel):
    id: int
    reference: str
    name: str
    village: str  # the village's name, as the board shows it
    village_code: str  # its 12-digit code, as applications name it
    household_size: int
    aid_type: str
    aid_type_label: str  # 特困人员救助供养 / extreme-poverty support
    amount_fen: int | None
    stage: str  # village, township, final, post or termination: a name that never changes
    stage_label: str  # what the board shows, 初榜 / first notice
    starts: datetime
    ends: datetime


def post_on_entry(session: Session, env: Env, case: Case, record: TransitionRecord, now: datetime) -> None:
    """Entering a notice stage posts that stage's notice."""
    if record.moved and record.to_state in notice_stages(case):
        post_notice(session, env, case, now)


def post_notice(session: Session, env: Env, case: Case, now: datetime) -> Notice:
    stage = notice_stages(case)[case.state]
    assert case.id is not None
    data = case.data
    if stage.name in ("village", "township"):
        amount = data.get("proposed_monthly_fen")
    elif stage.name == "post":
        amount = (data.get("grant") or {}).get("amount_fen")
    elif stage.name == "temporary":  # K9: 支出型 aid is posted with the amount asked for
        amount = data.get("amount_requested_fen")
    else:
        amount = data.get("monthly_amount_fen")
    aid = aidtypes.find(data.get("aid_type"))
    posted = aid is None or aid.minors_posted or not is_minor(env, case, local_date(now))
    notice = Notice(
        case_id=case.id,
        stage=stage.name,
        state=case.state,
        label=stage.label,
        entered_version=case.entered_version,
        starts=now,
        ends=env.calendar.due(now, stage.delay),
        region_code=case.region_code,
        township_code=case.township_code,
        reference=case.reference,
        aid_type=str(data.get("aid_type")),
        masked_name=public_name(str((data.get("applicant") or {}).get("name", ""))),
        household_size=len(members(data)),
        amount_fen=int(amount) if isinstance(amount, int) else None,
        posted=posted,
    )
    session.add(notice)
    session.flush()
    return notice


def public_name(name: str, *, masked: bool = False) -> str:
    """The name as the public board shows it: 王*英, 王*, and * for a one-character name (never the name).
    `masked` is a name already masked when the notice was posted: only a single character is hidden again."""
    if len(name) <= 1:
        return "*"
    return name if masked else mask_name(name)


def is_running(notice: Notice, case: Case, now: datetime) -> bool:
    return (
        case.state == notice.state
        and case.entered_version == notice.entered_version
        and notice.starts <= now < notice.ends
    )


def shown(n: Notice, village: str) -> dict[str, Any]:
    """What a posted notice shows the public (the board's page and its JSON alike): masked, nothing personal."""
    return {
        "id": n.id or 0,
        "reference": n.reference,
        "name": public_name(n.masked_name, masked=True),
        "village": village,
        "village_code": n.region_code,
        "household_size": n.household_size,
        "aid_type": n.aid_type,
        "aid_type_label": aidtypes.label_of(n.aid_type),
        "amount_fen": n.amount_fen,
        "stage": n.stage,
        "stage_label": n.label,
        "starts": n.starts,
        "ends": n.ends,
    }


def running_notices(session: Session, *, env: Env, now: datetime) -> list[NoticeOut]:
    """The public board: notices running now, masked; never an identity number, phone or address."""
    rows = session.exec(
        select(Notice, Region.name)
        .join(Case, col(Case.id) == col(Notice.case_id))
        .join(Region, col(Region.code) == col(Notice.region_code))
        .where(
            col(Notice.posted).is_(True),
            Notice.starts <= now,
            Notice.ends > now,
            CASES.state == Notice.state,
            CASES.entered_version == Notice.entered_version,
        )
        .order_by(col(Notice.ends), col(Notice.id))
    ).all()
    return [NoticeOut(**shown(n, village)) for n, village in rows]
