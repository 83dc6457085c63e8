"""P17: the standing list (长期公示) of a village's current beneficiaries, masked as the notice board masks them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlmodel import Session, col, select

from engine.access import region_level
from engine.calendar import local_date
from engine.errors import InvalidInput, NotFound
from engine.tables import Case, Region
from workflows import aidtypes, review
from workflows.base import CASES, is_minor
from workflows.guards import members
from workflows.notices import public_name
from workflows.spec import StandardSpec

if TYPE_CHECKING:
    from workflows.env import Env


class StandingOut(BaseModel):
    """One household on the standing list: no identity number, phone, address or account."""

    reference: str
    name: str
    village: str
    village_code: str
    household_size: int
    aid_type: str
    aid_type_label: str
    amount_fen: int | None


class StandingList(BaseModel):
    village: str
    village_code: str
    households: list[StandingOut]


def standing_list(session: Session, *, env: Env, village: str, now: datetime) -> StandingList:
    """Every household the village supports now (active, under review, in its grace period), 特困 minors left off."""
    region = session.get(Region, village)
    if region is None:
        raise NotFound(f"没有这个地区 / no region has the code {village}")
    if region_level(village) != "village":
        raise InvalidInput("长期公示按村公布，请给出村代码 / the standing list is per village: give a village code")
    cases = session.exec(
        select(Case)
        .where(
            CASES.region_code == village,
            CASES.workflow == StandardSpec.key,
            CASES.state.in_(sorted(review.PAID_STATES)),
        )
        .order_by(col(Case.reference))
    ).all()
    today = local_date(now)
    shown = []
    for case in cases:
        data = case.data
        aid = aidtypes.find(data.get("aid_type"))
        if aid is not None and not aid.minors_posted and is_minor(env, case, today):
            continue  # P17: 特困 minors are never posted
        amount = data.get("monthly_amount_fen")
        shown.append(
            StandingOut(
                reference=case.reference,
                name=public_name(str((data.get("applicant") or {}).get("name", ""))),
                village=region.name,
                village_code=village,
                household_size=len(members(data)),
                aid_type=str(data.get("aid_type")),
                aid_type_label=aidtypes.label_of(str(data.get("aid_type"))),
                amount_fen=amount if isinstance(amount, int) else None,
            )
        )
    return StandingList(village=region.name, village_code=village, households=shown)
