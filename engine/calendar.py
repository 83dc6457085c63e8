"""Working days on the Chinese official calendar, computed from the 放假办法 for years not yet published."""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar
from lunardate import LunarDate

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The years whose State Council holiday notice the installed chinese_calendar carries.
PACKAGE_YEARS = range(
    min(d.year for d in chinese_calendar.holidays), max(d.year for d in chinese_calendar.holidays) + 1
)
# 全国年节及纪念日放假办法 as revised in 2024 (国务院令第795号), in force from 1 January 2025.
STATUTORY_RULES_FROM = 2025
_SATURDAY = 5


class Festival(StrEnum):
    """A holiday that the 放假办法 gives all citizens."""

    NEW_YEAR = "元旦 / New Year's Day"
    SPRING = "春节 / Spring Festival"
    QINGMING = "清明节 / Qingming Festival"
    LABOUR = "劳动节 / Labour Day"
    DRAGON_BOAT = "端午节 / Dragon Boat Festival"
    MID_AUTUMN = "中秋节 / Mid-Autumn Festival"
    NATIONAL = "国庆节 / National Day"


def _lunar(year: int, month: int, day: int) -> date:
    try:
        solar: date = LunarDate(year, month, day).to_solar_date()
    except ValueError as exc:
        raise ValueError(f"{year} 年的农历日期无法计算 / the lunar dates of {year} cannot be computed: {exc}") from exc
    return solar


def _qingming(year: int) -> date:
    terms = chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 30))
    found: date = next(d for d, name in terms if name == "清明")
    return found


def festival_days(year: int) -> dict[Festival, list[date]]:
    """The statutory days of each festival in `year`, by the 放假办法 in force from 2025."""
    new_year = _lunar(year, 1, 1)
    return {
        Festival.NEW_YEAR: [date(year, 1, 1)],
        # 除夕 is the last day of the lunar year, whether its twelfth month has 29 or 30 days.
        Festival.SPRING: [new_year + timedelta(days=i) for i in range(-1, 3)],
        Festival.QINGMING: [_qingming(year)],
        Festival.LABOUR: [date(year, 5, 1), date(year, 5, 2)],
        Festival.DRAGON_BOAT: [_lunar(year, 5, 5)],
        Festival.MID_AUTUMN: [_lunar(year, 8, 15)],
        Festival.NATIONAL: [date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)],
    }


def statutory_holidays(year: int) -> dict[date, Festival]:
    """The days off of `year` that the 放假办法 itself fixes, before any notice moves working days around."""
    found: dict[date, Festival] = {}
    for festival, days in festival_days(year).items():
        for day in days:
            found.setdefault(day, festival)
    return found


def compensatory_days(year: int) -> dict[date, Festival]:
    """补假 (放假办法 Art. 6): a weekday off right after a festival for each of its days lost to a weekend."""
    rest = set(statutory_holidays(year))
    seen: set[date] = set()
    found: dict[date, Festival] = {}
    for festival, days in festival_days(year).items():
        # A day shared with another festival is lost too: 中秋 on 1 October 2020 made 国庆 eight days.
        lost = sum(1 for d in days if d.weekday() >= _SATURDAY or d in seen)
        seen.update(days)
        day = days[-1]
        while lost:
            day += timedelta(days=1)
            if day.weekday() < _SATURDAY and day not in rest:
                rest.add(day)
                found[day] = festival
                lost -= 1
    return found


@cache
def _computed_rest_days(year: int) -> frozenset[date]:
    if year < STATUTORY_RULES_FROM:
        return frozenset()
    return frozenset(statutory_holidays(year)) | frozenset(compensatory_days(year))


class Unit(StrEnum):
    DAYS = "days"
    WORKING_DAYS = "working_days"
    HOURS = "hours"
    MONTHS = "months"
    SECONDS = "seconds"  # for a due time given to the second (the end of a named day)


@dataclass(frozen=True)
class Delay:
    """A span of time as policy states it: '7 days', '10 working days', '12 months'."""

    amount: int
    unit: Unit = Unit.DAYS

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"a delay cannot be negative: {self.amount} {self.unit}")

    def describe(self) -> str:
        zh = {
            Unit.DAYS: "天",
            Unit.WORKING_DAYS: "个工作日",
            Unit.HOURS: "小时",
            Unit.MONTHS: "个月",
            Unit.SECONDS: "秒",
        }[self.unit]
        return f"{self.amount}{zh}"


@lru_cache(maxsize=4096)
def _package_workday(day: date) -> bool:
    """The published calendar's answer for one day: fixed once the package is installed, and asked
    for the same days by every deadline counted (chinese_calendar validates and looks up each call)."""
    return bool(chinese_calendar.is_workday(day))


@dataclass(frozen=True)
class WorkCalendar:
    """The official calendar: chinese_calendar's published years, the 放假办法 beyond them, policy overrides.

    `extra_holidays` and `extra_workdays` win over both. For a year the package does not know, the
    statutory holidays and their 补假 are days off and weekends are rest days; the notice's 调休
    make-up working days are unknown until the policy lists them, so such a year is provisional
    unless the policy names it in `published_years`.
    """

    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)
    published_years: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def with_overrides(
        cls, holidays: Iterable[date] = (), workdays: Iterable[date] = (), published_years: Iterable[int] = ()
    ) -> WorkCalendar:
        return cls(frozenset(holidays), frozenset(workdays), frozenset(published_years))

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if day.year in PACKAGE_YEARS:
            return _package_workday(day)
        return day.weekday() < _SATURDAY and day not in _computed_rest_days(day.year)

    def knows_year(self, year: int) -> bool:
        """Whether the official calendar for `year` is published in the installed package."""
        return year in PACKAGE_YEARS

    def is_published(self, year: int) -> bool:
        """Whether `year`'s holiday notice is known, from the package or from the policy."""
        return self.knows_year(year) or year in self.published_years

    def provisional(self, day: date) -> bool:
        """Whether `day` is counted without its year's holiday notice, so it may still change."""
        return not self.is_published(day.year)

    def unpublished_years(self, up_to: int) -> list[int]:
        """The years up to `up_to` whose holiday notice neither the package nor the policy carries."""
        return [year for year in range(PACKAGE_YEARS.start, up_to + 1) if not self.is_published(year)]

    def unpublished_warning(self, up_to: int) -> str | None:
        """The start-up warning for the years up to `up_to` counted without their notice, if any."""
        years = "、".join(str(y) for y in self.unpublished_years(up_to))
        if not years:
            return None
        return (
            f"{years} 年的放假安排尚未公布：按法定节假日、补假和周末计算，调休上班日未计入，相关期限为暂定 / "
            f"the holiday notice for {years} is not published: working days count the statutory holidays, "
            "their compensatory days and weekends, without make-up working days, so deadlines there are provisional"
        )

    def is_provisional_span(self, start: datetime, end: datetime) -> bool:
        """Whether counting working days from `start` to `end` consults a day of an unpublished year."""
        first = local_date(start) + timedelta(days=1)
        last = local_date(end)
        return any(not self.is_published(year) for year in range(first.year, last.year + 1))

    def is_provisional_due(self, start: datetime, delay: Delay) -> bool:
        """Whether the end of `delay` from `start` may move once an unpublished year's notice is out."""
        return delay.unit is Unit.WORKING_DAYS and self.is_provisional_span(start, self.due(start, delay))

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """End of the n-th working day after `start`'s local date (Asia/Shanghai), as UTC."""
        day = start.astimezone(SHANGHAI).date()
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        end = datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI)
        return end.astimezone(UTC)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after `start`'s local date up to and including `end`'s."""
        a = start.astimezone(SHANGHAI).date()
        b = end.astimezone(SHANGHAI).date()
        count = 0
        while a < b:
            a += timedelta(days=1)
            if self.is_workday(a):
                count += 1
        return count

    def due(self, start: datetime, delay: Delay) -> datetime:
        """When a span that begins at `start` ends."""
        if start.tzinfo is None:
            raise ValueError("times must be timezone-aware")
        if delay.unit is Unit.WORKING_DAYS:
            return self.add_working_days(start, delay.amount)
        if delay.unit is Unit.DAYS:
            return start + timedelta(days=delay.amount)
        if delay.unit is Unit.HOURS:
            return start + timedelta(hours=delay.amount)
        if delay.unit is Unit.SECONDS:
            return start + timedelta(seconds=delay.amount)
        return add_months(start, delay.amount)


def add_months(start: datetime, months: int) -> datetime:
    """The same local day `months` later, clamped to the month's end."""
    local = start.astimezone(SHANGHAI)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    day = min(local.day, _stdcal.monthrange(year, month)[1])
    return local.replace(year=year, month=month, day=day).astimezone(UTC)


def local_date(moment: datetime) -> date:
    """The calendar date in Asia/Shanghai of a UTC moment."""
    return moment.astimezone(SHANGHAI).date()
