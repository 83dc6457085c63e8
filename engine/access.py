"""Who may see and act on what: roles granted on regions, reaching everything below."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    APPLICANT = "applicant"
    VILLAGE_OFFICER = "village_officer"
    TOWNSHIP_OFFICER = "township_officer"
    COUNTY_OFFICER = "county_officer"
    INSPECTOR = "inspector"
    ADMIN = "admin"
    SYSTEM = "system"
    PUBLIC = "public"


OFFICIAL_ROLES = frozenset(
    {Role.VILLAGE_OFFICER, Role.TOWNSHIP_OFFICER, Role.COUNTY_OFFICER, Role.INSPECTOR, Role.ADMIN}
)

# Statistical division codes: 2 digits province, 2 city, 2 county, 3 township, 3 village.
_LEVELS = (("province", 2), ("city", 4), ("county", 6), ("township", 9), ("village", 12))


def valid_region_code(code: str) -> bool:
    return len(code) == 12 and code.isdigit() and code[:2] != "00"


def region_prefix(code: str) -> str:
    """The significant leading digits of a region code: everything below it shares them."""
    for _level, width in _LEVELS:
        if code[width:] == "0" * (12 - width):
            return code[:width]
    return code


def region_level(code: str) -> str:
    width = len(region_prefix(code))
    return next(level for level, w in _LEVELS if w == width)


def parent_code(code: str) -> str | None:
    """The region directly above `code`, or None for a province."""
    width = len(region_prefix(code))
    widths = [w for _level, w in _LEVELS]
    position = widths.index(width)
    if position == 0:
        return None
    parent_width = widths[position - 1]
    return code[:parent_width] + "0" * (12 - parent_width)


def township_of(code: str) -> str:
    return code[:9] + "000"


def county_of(code: str) -> str:
    return code[:6] + "000000"


def covers(grant_region: str, region: str) -> bool:
    """Whether a grant on `grant_region` reaches `region` (itself or anything below)."""
    return region.startswith(region_prefix(grant_region))


@dataclass(frozen=True)
class Grant:
    role: str
    region_code: str


@dataclass(frozen=True)
class Actor:
    """Someone acting: an official with grants, an applicant, the timer sweep, or the public."""

    username: str
    grants: tuple[Grant, ...] = ()
    user_id: int | None = None
    id_number_hash: str | None = None
    display_name: str = ""

    def roles_on(self, region: str) -> frozenset[str]:
        return frozenset(g.role for g in self.grants if covers(g.region_code, region))

    def has_role(self, role: str) -> bool:
        return any(g.role == role for g in self.grants)

    def reaches(self, region: str) -> bool:
        return any(covers(g.region_code, region) for g in self.grants if g.role != Role.APPLICANT)

    @property
    def is_system(self) -> bool:
        return self.has_role(Role.SYSTEM)


SYSTEM = Actor(username="system", grants=(Grant(Role.SYSTEM, ""),), display_name="系统 / system")
PUBLIC = Actor(username="public", grants=(Grant(Role.PUBLIC, ""),), display_name="公众 / public")
