"""The policy's [calendar]: a year's holiday notice copied in, and the mark that it is published."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.errors import DefinitionInvalid
from workflows.policy import Policy

NOTICE_2027 = """
[calendar]
extra_holidays = [2027-02-05, 2027-02-09, 2027-02-10, 2027-02-11, 2027-10-06, 2027-10-07]
extra_workdays = [2027-02-20, 2027-10-09]
published_years = [2027]
"""


def _policy(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return Policy.load(path)


def test_the_default_policy_publishes_no_year_so_2027_is_provisional() -> None:
    calendar = Policy.load(None).calendar()
    assert calendar.unpublished_years(2027) == [2027]
    assert calendar.provisional(date(2027, 3, 1))
    assert not calendar.is_workday(date(2027, 1, 1))


def test_policy_calendar_lists_override_the_computed_year(tmp_path: Path) -> None:
    calendar = _policy(tmp_path, NOTICE_2027).calendar()
    assert calendar.unpublished_years(2028) == [2028]
    assert not calendar.provisional(date(2027, 10, 6))
    assert not calendar.is_workday(date(2027, 2, 11))  # a Thursday the computation counts as worked
    assert calendar.is_workday(date(2027, 2, 20))  # a Saturday made a working day
    assert not calendar.is_workday(date(2027, 10, 7))
    assert calendar.is_workday(date(2027, 10, 9))


def test_a_policy_that_lists_a_year_without_publishing_it_keeps_it_provisional(tmp_path: Path) -> None:
    calendar = _policy(tmp_path, NOTICE_2027.replace("published_years = [2027]", "")).calendar()
    assert not calendar.is_workday(date(2027, 2, 11))
    assert calendar.provisional(date(2027, 2, 11))


def test_a_year_marked_published_without_its_holidays_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DefinitionInvalid, match="marks 2028 as published"):
        _policy(tmp_path, NOTICE_2027.replace("published_years = [2027]", "published_years = [2027, 2028]"))


def test_a_published_year_the_package_already_knows_needs_no_list(tmp_path: Path) -> None:
    calendar = _policy(tmp_path, "[calendar]\npublished_years = [2026]\n").calendar()
    assert calendar.unpublished_years(2026) == []
