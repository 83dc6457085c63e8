"""Working days on the Chinese official calendar, with a policy override for unpublished years."""

from __future__ import annotations

import calendar as _stdcal
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


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


@dataclass(frozen=True)
class WorkCalendar:
    """The official calendar: chinese_calendar's published years, plus policy overrides.

    `extra_holidays` and `extra_workdays` win over the package; for a year the package does not
    know yet, weekdays count as working days unless the policy lists them.
    """

    extra_holidays: frozenset[date] = field(default_factory=frozenset)
    extra_workdays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def with_overrides(cls, holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> WorkCalendar:
        return cls(frozenset(holidays), frozenset(workdays))

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def knows_year(self, year: int) -> bool:
        """Whether the official calendar for `year` is published in the installed package."""
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

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
