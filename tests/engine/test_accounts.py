"""Accounts: each role is granted on the level of region it works at."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.access import SYSTEM
from engine.accounts import add_user
from engine.database import Database
from engine.errors import InvalidInput, NotFound
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, make_regions


@pytest.mark.parametrize(
    ("role", "region", "refused"),
    [
        ("village_officer", VILLAGE, False),
        ("village_officer", TOWNSHIP, True),
        ("township_officer", TOWNSHIP, False),
        ("township_officer", VILLAGE, True),
        ("county_officer", COUNTY, False),
        ("county_officer", TOWNSHIP, True),
        ("applicant", VILLAGE, False),
        ("inspector", TOWNSHIP, False),
        ("admin", COUNTY, False),
    ],
)
def test_a_role_is_granted_on_its_own_level_of_region(
    db: Database, now: datetime, role: str, region: str, refused: bool
) -> None:
    with db.session() as s:
        make_regions(s)

    def add() -> None:
        with db.session() as s:
            add_user(s, username="u", password_hash="!", role=role, region=region, actor=SYSTEM, now=now)

    if refused:
        with pytest.raises(InvalidInput, match=f"{role} is granted on a"):
            add()
    else:
        add()


def test_a_grant_on_an_unknown_or_malformed_region_is_not_found(db: Database, now: datetime) -> None:
    with db.session() as s:
        make_regions(s)
    for region in ("341122999000", "12"):
        with pytest.raises(NotFound), db.session() as s:
            add_user(s, username="u", password_hash="!", role="inspector", region=region, actor=SYSTEM, now=now)
