"""Moving moments on a tenant's calendar: whole days keep the local clock time, the rest is elapsed time."""

from __future__ import annotations

import datetime as dt

import pytest

from rentguy_crm.kit import wallclock

AMSTERDAM = "Europe/Amsterdam"


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


@pytest.mark.parametrize("start, delta, expected", [
    (utc(2027, 3, 27, 9), dt.timedelta(days=1), utc(2027, 3, 28, 8)),     # spring forward: a 23-hour day
    (utc(2027, 10, 30, 8), dt.timedelta(days=1), utc(2027, 10, 31, 9)),   # fall back: a 25-hour day
    (utc(2027, 3, 27, 9), dt.timedelta(days=1, hours=2), utc(2027, 3, 28, 10)),
    (utc(2027, 10, 30, 23, 30), dt.timedelta(hours=2), utc(2027, 10, 31, 1, 30)),  # hours are elapsed
    (utc(2027, 3, 28, 8), dt.timedelta(days=-1), utc(2027, 3, 27, 9)),
    (utc(2027, 3, 28, 8), dt.timedelta(hours=-25), utc(2027, 3, 27, 8)),  # -1 day (10:00 CET), -1 hour
])
def test_shift_moves_whole_days_on_the_local_calendar(start: dt.datetime, delta: dt.timedelta,
                                                       expected: dt.datetime) -> None:
    assert wallclock.shift(start, delta, AMSTERDAM) == expected


def test_wall_clock_of_a_date_is_the_local_time_that_day_whatever_the_clocks_did() -> None:
    assert wallclock.wall_clock(dt.date(2027, 3, 28), dt.timedelta(hours=10), AMSTERDAM) == utc(2027, 3, 28, 8)
    assert wallclock.wall_clock(dt.date(2027, 10, 31), dt.timedelta(hours=10), AMSTERDAM) == utc(2027, 10, 31, 9)


def test_local_date_is_the_date_on_the_zones_clock() -> None:
    assert wallclock.local_date(utc(2027, 3, 27, 23, 30), AMSTERDAM) == dt.date(2027, 3, 28)
    assert wallclock.local_date(utc(2027, 3, 28, 6), "America/Los_Angeles") == dt.date(2027, 3, 27)
    assert wallclock.local_date(utc(2027, 3, 27, 23, 30), None) == dt.date(2027, 3, 27)
