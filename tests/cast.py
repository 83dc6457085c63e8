"""The one cast of the engine's and the aid domain's tests: a county's officials (with identity numbers,
so the conflict-of-interest checks have something to match), its applicants and an inspector.

The HTTP suites log in as accounts of the same county (tests/api/conftest.py ACCOUNTS, with passwords)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.access import SYSTEM, Actor, Role
from engine.database import Database
from engine.secrets import FieldCipher
from tests.factories import COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE, TOWNSHIP, VILLAGE, make_regions, make_user
from tests.households import id_number

SECRET = "workflow-tests-secret-0123456789"
CIPHER = FieldCipher(SECRET)

OFFICIAL_IDS = {
    "clerk": id_number("19800101", 501),
    "clerk2": id_number("19800101", 502),
    "boss": id_number("19800101", 503),
    "boss2": id_number("19800101", 504),
    "boss3": id_number("19800101", 505),
    "county": id_number("19800101", 506),
}


@dataclass(frozen=True)
class World:
    """The people of every suite's county (tests.factories' regions)."""

    clerk: Actor  # village officer of VILLAGE
    clerk2: Actor  # another village officer of VILLAGE
    boss: Actor  # township officer of TOWNSHIP
    boss2: Actor  # another township officer of TOWNSHIP
    boss3: Actor  # a third township officer of TOWNSHIP
    county: Actor  # county officer
    inspector: Actor
    far_clerk: Actor  # village officer of OTHER_VILLAGE
    far_boss: Actor  # township officer of OTHER_TOWNSHIP
    applicant: Actor
    neighbour: Actor  # another applicant of VILLAGE

    def by(self, name: str) -> Actor:
        return SYSTEM if name == "system" else getattr(self, name)  # type: ignore[no-any-return]


def make_world(db: Database) -> World:
    with db.session() as s:
        make_regions(s)

        def official(name: str, role: str, region: str) -> Actor:
            hashed = CIPHER.lookup_hash(OFFICIAL_IDS[name]) if name in OFFICIAL_IDS else None
            return make_user(s, name, role=role, region=region, id_number_hash=hashed)

        return World(
            clerk=official("clerk", Role.VILLAGE_OFFICER, VILLAGE),
            clerk2=official("clerk2", Role.VILLAGE_OFFICER, VILLAGE),
            boss=official("boss", Role.TOWNSHIP_OFFICER, TOWNSHIP),
            boss2=official("boss2", Role.TOWNSHIP_OFFICER, TOWNSHIP),
            boss3=official("boss3", Role.TOWNSHIP_OFFICER, TOWNSHIP),
            county=official("county", Role.COUNTY_OFFICER, COUNTY),
            inspector=official("inspector", Role.INSPECTOR, COUNTY),
            far_clerk=official("far_clerk", Role.VILLAGE_OFFICER, OTHER_VILLAGE),
            far_boss=official("far_boss", Role.TOWNSHIP_OFFICER, OTHER_TOWNSHIP),
            applicant=official("applicant", Role.APPLICANT, VILLAGE),
            neighbour=official("neighbour", Role.APPLICANT, VILLAGE),
        )
