"""Typed builders for test data; keyword overrides, nothing hidden."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from engine.access import Actor, Grant, region_level
from engine.tables import Region, RoleGrant, User

COUNTY = "341122000000"
TOWNSHIP = "341122100000"
VILLAGE = "341122100201"
OTHER_TOWNSHIP = "341122101000"
OTHER_VILLAGE = "341122101201"


def make_regions(session: Session) -> None:
    """One county, two townships, two villages (one in each)."""
    for code, name in [
        (COUNTY, "来安县"),
        (TOWNSHIP, "新安镇"),
        (VILLAGE, "大庄村"),
        (OTHER_TOWNSHIP, "水口镇"),
        (OTHER_VILLAGE, "青山村"),
    ]:
        parent = None if code == COUNTY else (COUNTY if code.endswith("000") else code[:9] + "000")
        session.add(Region(code=code, name=name, level=region_level(code), parent_code=parent))
    session.flush()


def make_user(
    session: Session,
    username: str,
    *,
    role: str,
    region: str,
    id_number_hash: str | None = None,
    display_name: str = "",
) -> Actor:
    user = User(
        username=username,
        password_hash="!",
        display_name=display_name or username,
        id_number_hash=id_number_hash,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    session.add(RoleGrant(user_id=user.id, role=role, region_code=region, granted_at=datetime.now(UTC)))
    session.flush()
    return Actor(
        username=username,
        grants=(Grant(role, region),),
        user_id=user.id,
        id_number_hash=id_number_hash,
        display_name=user.display_name,
    )
