"""Working days on the official calendar (chinese_calendar), the 放假办法 beyond it, and the policy's word."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import chinese_calendar
import pytest

from engine.calendar import (
    PACKAGE_YEARS,
    SHANGHAI,
    Delay,
    Festival,
    Unit,
    WorkCalendar,
    add_months,
    compensatory_days,
    festival_days,
    local_date,
    statutory_holidays,
)

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


def test_the_installed_package_publishes_up_to_2026_and_not_2027() -> None:
    assert PACKAGE_YEARS[-1] == 2026
    assert not CAL.knows_year(2027)
    assert CAL.provisional(date(2027, 1, 1))
    assert not CAL.provisional(date(2026, 12, 31))


def test_2027_new_year_is_not_a_working_day() -> None:
    assert not CAL.is_workday(date(2027, 1, 1))  # a Friday
    assert CAL.is_workday(date(2026, 12, 31))
    assert CAL.add_working_days(_shanghai(2026, 12, 31), 1) == _end_of(date(2027, 1, 4))


def test_spring_festival_2027_is_four_statutory_days_without_the_notice() -> None:
    # 除夕 is Friday 5 February 2027 (the last day of the lunar year 丙午), 正月初一 Saturday the 6th.
    spring = [d for d, f in statutory_holidays(2027).items() if f is Festival.SPRING]
    assert spring == _days(date(2027, 2, 5), date(2027, 2, 8))
    assert not any(CAL.is_workday(d) for d in spring)
    assert CAL.is_workday(date(2027, 2, 4))


def test_the_spring_festival_2027_saturday_and_sunday_are_made_up_on_the_next_tuesday_and_wednesday() -> None:
    # 放假办法 Art. 6: a statutory day on a weekend gives a weekday off (补假); the 调休 swaps are unknown.
    assert [d for d, f in compensatory_days(2027).items() if f is Festival.SPRING] == [
        date(2027, 2, 9),
        date(2027, 2, 10),
    ]
    assert [d for d in _days(date(2027, 2, 1), date(2027, 2, 14)) if CAL.is_workday(d)] == [
        date(2027, 2, 1),
        date(2027, 2, 2),
        date(2027, 2, 3),
        date(2027, 2, 4),
        date(2027, 2, 11),
        date(2027, 2, 12),
    ]
    assert not CAL.is_workday(date(2027, 2, 20))  # a Saturday: no make-up working day without the notice


def test_the_statutory_holidays_of_2027_by_the_2025_rules() -> None:
    assert sorted(statutory_holidays(2027)) == [
        date(2027, 1, 1),
        *_days(date(2027, 2, 5), date(2027, 2, 8)),
        date(2027, 4, 5),  # 清明 solar term
        date(2027, 5, 1),
        date(2027, 5, 2),
        date(2027, 6, 9),  # 五月初五
        date(2027, 9, 15),  # 八月十五
        *_days(date(2027, 10, 1), date(2027, 10, 3)),
    ]
    assert not any(CAL.is_workday(d) for d in statutory_holidays(2027))


def test_mid_autumn_2028_on_a_day_of_national_day_is_made_up_like_a_sunday() -> None:
    # 八月十五 is Tuesday 3 October 2028 and 1 October a Sunday: two days lost, Wednesday and Thursday off.
    assert festival_days(2028)[Festival.MID_AUTUMN] == [date(2028, 10, 3)]
    assert [d for d, f in compensatory_days(2028).items() if f is Festival.NATIONAL] == [
        date(2028, 10, 4),
        date(2028, 10, 5),
    ]
    assert [d for d in _days(date(2028, 9, 30), date(2028, 10, 8)) if CAL.is_workday(d)] == [date(2028, 10, 6)]


# Since the 2007 revision (in force 2008) 元旦, 正月初一 to 初三, 清明, 1 May, 端午, 中秋 and 1–3 October have
# been days off every year; 除夕 and 2 May joined in 2025. The package's names tell which festival it is.
_PACKAGE_NAME = {
    Festival.NEW_YEAR: "New Year's Day",
    Festival.SPRING: "Spring Festival",
    Festival.QINGMING: "Tomb-sweeping Day",
    Festival.LABOUR: "Labour Day",
    Festival.DRAGON_BOAT: "Dragon Boat Festival",
    Festival.MID_AUTUMN: "Mid-autumn Festival",
    Festival.NATIONAL: "National Day",
}


@pytest.mark.parametrize("year", range(2008, PACKAGE_YEARS[-1] + 1))
def test_the_computed_festivals_are_the_published_holidays_of_the_same_name(year: int) -> None:
    days = festival_days(year)
    checked = {festival: list(found) for festival, found in days.items()}
    if year < 2025:
        checked[Festival.SPRING] = days[Festival.SPRING][1:]  # 除夕 was worked in some years
        checked[Festival.LABOUR] = days[Festival.LABOUR][:1]
    national = days[Festival.NATIONAL]
    for festival, found in checked.items():
        for day in found:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
            assert on_holiday, (festival, day)
            expected = {_PACKAGE_NAME[festival]}
            if day in national and day in days[Festival.MID_AUTUMN]:
                expected |= {_PACKAGE_NAME[Festival.NATIONAL], _PACKAGE_NAME[Festival.MID_AUTUMN]}
            if name is None and day.weekday() >= 5:
                # The package leaves a few weekend days of a holiday unnamed (端午 2012 was a Saturday):
                # the day beside it carries the name.
                name = chinese_calendar.get_holiday_detail(day + timedelta(days=1 if day.weekday() == 5 else -1))[1]
            assert name in expected, (festival, day, name)


@pytest.mark.parametrize("year", [y for y in PACKAGE_YEARS if y >= 2025])
def test_every_statutory_and_compensatory_day_of_a_published_year_is_off_in_the_notice(year: int) -> None:
    computed = {**statutory_holidays(year), **compensatory_days(year)}
    assert computed
    assert [d for d in computed if chinese_calendar.is_workday(d)] == []


@pytest.mark.parametrize("year", [y for y in PACKAGE_YEARS if y >= 2025])
def test_over_a_published_year_the_computation_counts_as_many_working_days_as_the_notice(year: int) -> None:
    # 调休 only swaps days: the notice moves working days about but keeps their number.
    rest = {**statutory_holidays(year), **compensatory_days(year)}
    year_days = _days(date(year, 1, 1), date(year, 12, 31))
    computed = [d for d in year_days if d.weekday() < 5 and d not in rest]
    assert len(computed) == sum(1 for d in year_days if chinese_calendar.is_workday(d))


def test_a_deadline_crossing_into_an_unpublished_year_is_provisional() -> None:
    start = _shanghai(2026, 12, 21)
    ten = Delay(10, Unit.WORKING_DAYS)
    # 22–25, 28–31 December, then 1 January 2027 is off: 4 and 5 January.
    assert CAL.due(start, ten) == _end_of(date(2027, 1, 5))
    assert CAL.is_provisional_due(start, ten)
    assert CAL.is_provisional_span(start, CAL.due(start, ten))
    assert not CAL.is_provisional_due(_shanghai(2026, 12, 1), ten)  # ends on 14 December
    assert not CAL.is_provisional_span(_shanghai(2026, 12, 1), _shanghai(2026, 12, 31, 23, 59))


def test_a_span_that_starts_on_the_last_day_of_a_published_year_counts_only_the_next_year() -> None:
    assert CAL.is_provisional_span(_shanghai(2026, 12, 31), _shanghai(2027, 1, 4))
    assert not CAL.is_provisional_span(_shanghai(2026, 12, 31), _shanghai(2026, 12, 31, 18))


def test_a_calendar_day_deadline_into_an_unpublished_year_is_not_provisional() -> None:
    start = _shanghai(2026, 12, 28)
    assert not CAL.is_provisional_due(start, Delay(7, Unit.DAYS))
    assert CAL.is_provisional_due(start, Delay(7, Unit.WORKING_DAYS))


def test_unpublished_years_are_those_after_the_package_that_the_policy_does_not_publish() -> None:
    assert CAL.unpublished_years(2026) == []
    assert CAL.unpublished_years(2028) == [2027, 2028]
    assert WorkCalendar.with_overrides(published_years=[2027]).unpublished_years(2028) == [2028]
    warning = CAL.unpublished_warning(2027)
    assert warning is not None
    assert warning.startswith("2027 年的放假安排尚未公布")
    assert "provisional" in warning
    assert CAL.unpublished_warning(2026) is None


def test_policy_calendar_lists_override_the_computed_year() -> None:
    # A notice for 2027 as the State Council might publish it: 5–11 February off, two Saturdays worked.
    notice = WorkCalendar.with_overrides(
        holidays=_days(date(2027, 2, 5), date(2027, 2, 11)),
        workdays=[date(2027, 1, 30), date(2027, 2, 20)],
        published_years=[2027],
    )
    assert not notice.is_workday(date(2027, 2, 11))
    assert notice.is_workday(date(2027, 2, 20))
    assert notice.is_workday(date(2027, 1, 30))
    assert not notice.is_workday(date(2027, 1, 1))  # still a statutory day, though not listed
    assert not notice.provisional(date(2027, 2, 11))
    assert not notice.is_provisional_due(_shanghai(2026, 12, 21), Delay(10, Unit.WORKING_DAYS))
    assert notice.provisional(date(2028, 1, 3))


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
