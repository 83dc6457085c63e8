"""Working days on the official calendar (chinese_calendar), and the policy's word for unpublished years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.calendar import SHANGHAI, Delay, Unit, WorkCalendar, add_months, local_date

CAL = WorkCalendar()


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _shanghai(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def _end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)


def test_national_day_2026_is_a_seven_day_holiday_and_the_eighth_is_worked() -> None:
    # As the installed chinese_calendar publishes the State Council's 2026 arrangement: 1–7 October off
    # (Mid-Autumn, 25 September, is a holiday of its own); Thursday 8 October is an ordinary working day.
    assert CAL.knows_year(2026)
    assert [d for d in _days(date(2026, 10, 1), date(2026, 10, 7)) if CAL.is_workday(d)] == []
    assert CAL.is_workday(date(2026, 10, 8))
    assert not CAL.is_workday(date(2026, 9, 25))


def test_the_make_up_working_days_of_national_day_2026_are_a_sunday_and_a_saturday() -> None:
    around = _days(date(2026, 9, 1), date(2026, 10, 31))
    worked_weekend_days = [d for d in around if d.weekday() >= 5 and CAL.is_workday(d)]
    assert worked_weekend_days == [date(2026, 9, 20), date(2026, 10, 10)]  # 调休: Sun 20 Sep, Sat 10 Oct


def test_spring_festival_2026_runs_from_the_fifteenth_to_the_twenty_third_with_two_saturdays_worked() -> None:
    assert [d for d in _days(date(2026, 2, 15), date(2026, 2, 23)) if CAL.is_workday(d)] == []
    around = _days(date(2026, 2, 1), date(2026, 3, 15))
    assert [d for d in around if d.weekday() >= 5 and CAL.is_workday(d)] == [date(2026, 2, 14), date(2026, 2, 28)]
    assert [d for d in around if d.weekday() < 5 and not CAL.is_workday(d)] == [
        date(2026, 2, 16),
        date(2026, 2, 17),
        date(2026, 2, 18),
        date(2026, 2, 19),
        date(2026, 2, 20),
        date(2026, 2, 23),
    ]


def test_ten_working_days_from_the_monday_before_national_day_end_on_friday_the_sixteenth() -> None:
    # 29, 30 Sep; 8, 9, 10 (Saturday, worked), 12, 13, 14, 15, 16 Oct.
    assert CAL.add_working_days(_shanghai(2026, 9, 28), 10) == _end_of(date(2026, 10, 16))
    assert CAL.due(_shanghai(2026, 9, 28), Delay(10, Unit.WORKING_DAYS)) == _end_of(date(2026, 10, 16))


@pytest.mark.parametrize(
    ("n", "ends"),
    [(1, date(2026, 10, 8)), (2, date(2026, 10, 9)), (3, date(2026, 10, 10)), (4, date(2026, 10, 12))],
)
def test_working_days_counted_from_the_last_day_before_national_day(n: int, ends: date) -> None:
    assert CAL.add_working_days(_shanghai(2026, 9, 30, 16), n) == _end_of(ends)


def test_the_count_starts_from_the_date_in_shanghai_not_in_utc() -> None:
    # 00:30 on 1 October in Shanghai is still 30 September in UTC: the holiday has already begun.
    just_after_midnight = _shanghai(2026, 10, 1, 0, 30)
    assert just_after_midnight.date() == date(2026, 9, 30)
    assert local_date(just_after_midnight) == date(2026, 10, 1)
    assert CAL.add_working_days(just_after_midnight, 1) == _end_of(date(2026, 10, 8))
    assert CAL.add_working_days(_shanghai(2026, 9, 29, 23, 30), 1) == _end_of(date(2026, 9, 30))


def test_working_days_between_skips_the_holiday_and_counts_the_make_up_day() -> None:
    assert CAL.working_days_between(_shanghai(2026, 9, 30), _shanghai(2026, 10, 12)) == 4  # 8, 9, 10, 12
    assert CAL.working_days_between(_shanghai(2026, 10, 1), _shanghai(2026, 10, 7)) == 0


def test_a_year_the_package_does_not_publish_counts_weekdays_as_working_days() -> None:
    assert not CAL.knows_year(2027)
    assert CAL.is_workday(date(2027, 10, 1))  # a Friday: without the policy, nothing says it is a holiday
    assert not CAL.is_workday(date(2027, 10, 2))
    assert CAL.add_working_days(_shanghai(2027, 9, 30), 3) == _end_of(date(2027, 10, 5))


def test_the_policy_overrides_a_year_the_package_does_not_know() -> None:
    national_day_2027 = _days(date(2027, 10, 1), date(2027, 10, 7))
    policy = WorkCalendar.with_overrides(holidays=national_day_2027, workdays=[date(2027, 9, 26), date(2027, 10, 9)])
    assert not any(policy.is_workday(d) for d in national_day_2027)
    assert policy.is_workday(date(2027, 9, 26))
    assert policy.is_workday(date(2027, 10, 9))
    # From Thursday 30 September: 8 (Fri), 9 (Sat, worked), 11 (Mon).
    assert policy.add_working_days(_shanghai(2027, 9, 30), 3) == _end_of(date(2027, 10, 11))
    assert policy.working_days_between(_shanghai(2027, 9, 24), _shanghai(2027, 10, 11)) == 8


def test_the_policy_wins_over_the_package_in_a_published_year_too() -> None:
    policy = WorkCalendar.with_overrides(holidays=[date(2026, 10, 8)], workdays=[date(2026, 10, 3)])
    assert not policy.is_workday(date(2026, 10, 8))
    assert policy.is_workday(date(2026, 10, 3))
    assert policy.add_working_days(_shanghai(2026, 9, 30), 2) == _end_of(date(2026, 10, 9))


def test_calendar_and_hour_delays_ignore_holidays_and_months_clamp_to_the_months_end() -> None:
    start = _shanghai(2026, 9, 30, 9)
    assert CAL.due(start, Delay(7, Unit.DAYS)) == start + timedelta(days=7)
    assert CAL.due(start, Delay(48, Unit.HOURS)) == start + timedelta(hours=48)
    assert local_date(add_months(_shanghai(2026, 1, 31), 1)) == date(2026, 2, 28)
    assert local_date(CAL.due(_shanghai(2026, 8, 31), Delay(6, Unit.MONTHS))) == date(2027, 2, 28)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.due(datetime(2026, 10, 1, 9), Delay(1, Unit.DAYS))
