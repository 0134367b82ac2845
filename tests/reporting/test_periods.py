"""ISO weeks and months as UTC ranges, and the refusal of periods that are not over."""

from __future__ import annotations

import datetime as dt

import pytest

from rentguy_crm.reporting import periods

UTC = dt.UTC


def test_an_iso_week_runs_from_monday_to_monday_utc() -> None:
    week = periods.week("2026-W48")
    assert (week.start, week.end) == (dt.datetime(2026, 11, 23, tzinfo=UTC), dt.datetime(2026, 11, 30, tzinfo=UTC))


def test_the_first_iso_week_can_start_in_the_year_before() -> None:
    assert periods.week("2025-W01").start == dt.datetime(2024, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("label", ["2026-48", "2026W48", "W48", "2026-W5", "2025-W53", "2026-W00", "next week"])
def test_malformed_or_missing_weeks_are_refused(label: str) -> None:
    with pytest.raises(periods.PeriodError):
        periods.week(label)


def test_a_year_with_53_weeks_has_week_53() -> None:
    assert periods.week("2026-W53").end == dt.datetime(2027, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize("label", ["2026-13", "2026-00", "2026-1", "november"])
def test_malformed_months_are_refused(label: str) -> None:
    with pytest.raises(periods.PeriodError):
        periods.month(label)


def test_december_ends_at_new_year() -> None:
    assert periods.month("2026-12").end == dt.datetime(2027, 1, 1, tzinfo=UTC)


def test_the_current_week_is_not_over_and_the_last_one_is() -> None:
    now = dt.datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday of 2026-W49
    with pytest.raises(periods.PeriodError, match="not over yet"):
        periods.require_past(periods.week("2026-W49"), now, "week")
    assert periods.require_past(periods.week("2026-W48"), now, "week").label == "2026-W48"


def test_weeks_touching_a_month_include_the_partial_ones() -> None:
    assert [w.label for w in periods.weeks_touching(periods.month("2026-11"))] == [
        "2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48", "2026-W49"]  # 1 Nov is a Sunday, 30 Nov a Monday
