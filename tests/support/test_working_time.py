"""Working time (support/working_time.py): hand-checked table rows and properties over a year with DST switches."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rentguy_crm.support.working_time import (
    WorkingCalendar,
    add_working_time,
    next_working_instant,
    working_time_between,
)

AMS = ZoneInfo("Europe/Amsterdam")
MRDJ = WorkingCalendar.from_config("Europe/Amsterdam", {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu",
                                                                                         "fri")}, country="NL")
H = dt.timedelta(hours=1)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=AMS)


@pytest.mark.parametrize(("start", "duration", "due"), [
    # Friday 16:30 + 8 working hours: half an hour on Friday, 7.5 on Monday.
    (local(2026, 3, 13, 16, 30), 8 * H, local(2026, 3, 16, 16, 30)),
    # ... and when that Monday is Whit Monday (Tweede Pinksterdag, 2026-05-25): Tuesday 16:30.
    (local(2026, 5, 22, 16, 30), 8 * H, local(2026, 5, 26, 16, 30)),
    # Good Friday 2026-04-03 is a public holiday in `holidays` for NL, and so is Easter Monday: the clock starts
    # Tuesday 09:00 and 8 hours end Tuesday 17:00.
    (local(2026, 4, 3, 16, 30), 8 * H, local(2026, 4, 7, 17, 0)),
    # Opened on Sunday: the clock starts Monday 09:00.
    (local(2026, 3, 15, 11, 0), 8 * H, local(2026, 3, 16, 17, 0)),
    (local(2026, 3, 15, 11, 0), dt.timedelta(0), local(2026, 3, 16, 9, 0)),
    # Before opening time on a weekday: counted from 09:00 that day.
    (local(2026, 3, 17, 7, 0), 2 * H, local(2026, 3, 17, 11, 0)),
    # After closing: from 09:00 the next day.
    (local(2026, 3, 17, 18, 0), 30 * dt.timedelta(minutes=1), local(2026, 3, 18, 9, 30)),
    # A target ending exactly at closing time is due at 17:00, not the next morning.
    (local(2026, 3, 17, 9, 0), 8 * H, local(2026, 3, 17, 17, 0)),
    # DST switch days are Sundays in the EU: a Friday 16:00 + 2h crosses them and lands Monday 10:00.
    (local(2026, 3, 27, 16, 0), 2 * H, local(2026, 3, 30, 10, 0)),
    (local(2026, 10, 23, 16, 0), 2 * H, local(2026, 10, 26, 10, 0)),
    # New Year's Day 2026 (Thursday) is closed.
    (local(2025, 12, 31, 16, 0), 2 * H, local(2026, 1, 2, 10, 0)),
])
def test_hand_checked_due_times(start: dt.datetime, duration: dt.timedelta, due: dt.datetime) -> None:
    assert add_working_time(MRDJ, start, duration) == due


def test_two_hours_pending_makes_the_due_time_two_hours_later() -> None:
    created = local(2026, 3, 16, 9, 0)  # Monday
    target = 8 * H
    pending_from, pending_until = local(2026, 3, 16, 10, 0), local(2026, 3, 16, 12, 0)
    paused = working_time_between(MRDJ, pending_from, pending_until)
    assert paused == 2 * H
    assert add_working_time(MRDJ, created, target) == local(2026, 3, 16, 17, 0)
    assert add_working_time(MRDJ, created, target + paused) == local(2026, 3, 17, 11, 0)


def test_split_days_and_extra_closed_days() -> None:
    calendar = WorkingCalendar.from_config("Europe/Amsterdam", {"mon": ["09:00-12:00", "13:00-17:00"]},
                                           country=None, closed_days=[dt.date(2026, 3, 16)])
    # 2026-03-16 is closed; the next Monday has a lunch break that the clock skips.
    assert add_working_time(calendar, local(2026, 3, 16, 10, 0), 4 * H) == local(2026, 3, 23, 14, 0)
    assert next_working_instant(calendar, local(2026, 3, 23, 12, 30)) == local(2026, 3, 23, 13, 0)


def test_dst_switch_day_with_working_hours_counts_real_hours() -> None:
    # A calendar that works Sundays 00:00-06:00: on 2026-03-29 the clock jumps 02:00 -> 03:00, so that span holds
    # 5 real hours; on 2026-10-25 03:00 -> 02:00 repeats an hour, so it holds 7.
    calendar = WorkingCalendar.from_config("Europe/Amsterdam", {"sun": ["00:00-06:00"]}, country=None)
    assert working_time_between(calendar, local(2026, 3, 29, 0, 0), local(2026, 3, 29, 12, 0)) == 5 * H
    assert working_time_between(calendar, local(2026, 10, 25, 0, 0), local(2026, 10, 25, 12, 0)) == 7 * H


def test_naive_and_negative_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_time(MRDJ, dt.datetime(2026, 3, 16, 9), H)
    with pytest.raises(ValueError, match="negative"):
        add_working_time(MRDJ, local(2026, 3, 16, 9), -H)


# -- properties over 2026, which has both DST switches (2026-03-29, 2026-10-25) and the Dutch holidays ----------

instants = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 12, 31),
                        timezones=st.just(AMS))
durations = st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(hours=120)).map(
    lambda d: dt.timedelta(seconds=int(d.total_seconds())))


@settings(max_examples=150, deadline=None)
@given(instants, instants, durations)
def test_later_start_is_never_due_earlier(a: dt.datetime, b: dt.datetime, duration: dt.timedelta) -> None:
    first, second = sorted([a, b])
    assert add_working_time(MRDJ, first, duration) <= add_working_time(MRDJ, second, duration)


@settings(max_examples=150, deadline=None)
@given(instants, durations, durations)
def test_longer_target_is_never_due_earlier(start: dt.datetime, d1: dt.timedelta, d2: dt.timedelta) -> None:
    small, large = sorted([d1, d2])
    assert add_working_time(MRDJ, start, small) <= add_working_time(MRDJ, start, large)


@settings(max_examples=150, deadline=None)
@given(instants, durations)
def test_working_time_between_start_and_due_is_the_duration(start: dt.datetime, duration: dt.timedelta) -> None:
    assert working_time_between(MRDJ, start, add_working_time(MRDJ, start, duration)) == duration


@settings(max_examples=150, deadline=None)
@given(instants, durations, durations)
def test_a_pause_adds_exactly_its_length(start: dt.datetime, target: dt.timedelta, pause: dt.timedelta) -> None:
    due = add_working_time(MRDJ, start, target)
    later = add_working_time(MRDJ, start, target + pause)
    assert working_time_between(MRDJ, due, later) == pause


@settings(max_examples=150, deadline=None)
@given(instants, durations)
def test_due_times_fall_on_working_days_within_hours(start: dt.datetime, duration: dt.timedelta) -> None:
    due = add_working_time(MRDJ, start, duration).astimezone(AMS)
    assert due.weekday() < 5
    assert not MRDJ.is_closed(due.date())
    assert dt.time(9) <= due.time() <= dt.time(17)


ALWAYS_OPEN = WorkingCalendar.from_config("Europe/Amsterdam", {d: ["00:00-24:00"] for d in ("mon", "tue", "wed",
                                                                                           "thu", "fri", "sat",
                                                                                           "sun")}, country=None)
dst_days = st.sampled_from([dt.date(2026, 3, 29), dt.date(2026, 10, 25)])


@settings(max_examples=100, deadline=None)
@given(dst_days, st.integers(min_value=0, max_value=47 * 60), st.integers(min_value=0, max_value=24 * 60))
def test_across_a_dst_switch_working_time_is_real_elapsed_time(day: dt.date, start_minute: int,
                                                               length_minutes: int) -> None:
    # A calendar open around the clock: working time must equal elapsed time, even across 02:00-03:00.
    start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(0), AMS).astimezone(dt.UTC) + dt.timedelta(
        minutes=start_minute)
    length = dt.timedelta(minutes=length_minutes)
    assert add_working_time(ALWAYS_OPEN, start, length) == start + length
    assert working_time_between(ALWAYS_OPEN, start, start + length) == length
