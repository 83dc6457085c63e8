"""Dates, times and money on the pages: the Chinese way in Chinese, Beijing time always."""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.web import formats


def test_a_date_reads_the_chinese_way_with_its_weekday() -> None:
    assert formats.day(date(2026, 12, 8), "zh") == "2026年12月8日（星期二）"
    assert formats.day(date(2026, 12, 8), "en") == "Tuesday 8 December 2026"


def test_a_moment_is_dated_by_beijing_time_not_utc() -> None:
    late_evening_utc = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)  # 00:30 on the 8th in Beijing
    assert formats.day(late_evening_utc, "zh") == "2026年12月8日（星期二）"
    assert formats.moment(late_evening_utc, "zh") == "2026年12月8日（星期二）00:30"
    assert formats.moment(late_evening_utc, "en") == "Tuesday 8 December 2026, 00:30"


def test_money_is_shown_in_yuan_from_whole_fen() -> None:
    assert formats.money(180_000) == "¥1,800.00"
    assert formats.money(123_456_789) == "¥1,234,567.89"
    assert formats.money(5) == "¥0.05"
    assert formats.money(0) == "¥0.00"
    assert formats.money(-150) == "-¥1.50"
