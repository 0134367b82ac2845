"""Working time: when a tenant's SLA clock runs. Pure (no database, no clock): a `WorkingCalendar` and three
functions on aware datetimes.

A calendar is a time zone, working spans per weekday (a split day has several), public holidays from the
`holidays` library (https://holidays.readthedocs.io, `holidays.country_holidays`) and extra closed days. Spans are
local wall-clock times; arithmetic runs on real elapsed time, so on a DST switch day a 09:00-17:00 span is still
8 hours and a span that touches the skipped or repeated hour is as long as the clock on the wall says it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

Span = tuple[dt.time, dt.time]
_DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# No working span in this many days: the calendar is closed for good (all days off), which is a config error.
_HORIZON_DAYS = 3 * 366


class NoWorkingTime(ValueError):
    """The calendar has no working span within three years of the start (every day closed)."""


def parse_span(text: str) -> Span:
    """ "09:00-17:00" -> (09:00, 17:00); "24:00" is the end of the day. Raises ValueError."""
    start, _, end = text.partition("-")
    begin = dt.time.fromisoformat(start.strip())
    finish = dt.time.max if end.strip() == "24:00" else dt.time.fromisoformat(end.strip())
    if finish <= begin:
        raise ValueError(f"span {text!r}: the end must come after the start")
    return begin, finish


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year).keys())


@dataclass(frozen=True)
class WorkingCalendar:
    """`spans[weekday]` (0 = Monday) lists that day's working spans in local time, sorted, not overlapping."""

    timezone: str = "Europe/Amsterdam"
    spans: Mapping[int, Sequence[Span]] = field(default_factory=lambda: {
        d: ((dt.time(9), dt.time(17)),) for d in range(5)})
    country: str | None = "NL"
    subdivision: str | None = None
    closed_days: frozenset[dt.date] = frozenset()

    @classmethod
    def from_config(cls, timezone: str, days: Mapping[Any, Sequence[str]], *, country: str | None = "NL",
                    subdivision: str | None = None, closed_days: Sequence[dt.date] = ()) -> WorkingCalendar:
        """From the tenant config's words: {"mon": ["09:00-12:30", "13:00-17:00"], ...}."""
        spans = {_DAY_KEYS.index(day): tuple(sorted(parse_span(s) for s in texts)) for day, texts in days.items()}
        return cls(timezone, spans, country, subdivision, frozenset(closed_days))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_closed(self, day: dt.date) -> bool:
        if day in self.closed_days:
            return True
        return bool(self.country) and day in _public_holidays(self.country or "", self.subdivision, day.year)

    def intervals(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The day's working intervals as aware UTC datetimes (empty on closed days)."""
        if self.is_closed(day):
            return []
        zone = self.zone
        out = []
        for begin, finish in self.spans.get(day.weekday(), ()):
            start = dt.datetime.combine(day, begin, zone).astimezone(dt.UTC)
            end = (dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone) if finish == dt.time.max
                   else dt.datetime.combine(day, finish, zone)).astimezone(dt.UTC)
            if end > start:
                out.append((start, end))
        return out

    def _from(self, instant: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working intervals that end after `instant`, in order (starting on its local day)."""
        day = instant.astimezone(self.zone).date()
        for offset in range(_HORIZON_DAYS):
            for start, end in self.intervals(day + dt.timedelta(days=offset)):
                if end > instant:
                    yield start, end
        raise NoWorkingTime(f"no working hours within {_HORIZON_DAYS} days of {instant.isoformat()}")


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(dt.UTC)


def next_working_instant(calendar: WorkingCalendar, instant: dt.datetime) -> dt.datetime:
    """`instant` itself when the clock runs then, else the start of the next working span (UTC)."""
    instant = _aware(instant, "instant")
    start, _end = next(calendar._from(instant))
    return max(start, instant)


def add_working_time(calendar: WorkingCalendar, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    """The instant `duration` of working time after `start` (UTC). A start outside working hours counts from the
    next working instant; a target that ends exactly at a span's end is due at that end (17:00, not Monday 09:00).
    Raises ValueError for a negative duration or a naive start."""
    start = _aware(start, "start")
    if duration < dt.timedelta(0):
        raise ValueError("duration must not be negative")
    remaining = duration
    for begin, end in calendar._from(start):
        begin = max(begin, start)
        available = end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise NoWorkingTime("unreachable")  # _from raises first


def working_time_between(calendar: WorkingCalendar, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
    """Working time in [a, b); negative when b is before a."""
    a, b = _aware(a, "a"), _aware(b, "b")
    if b < a:
        return -working_time_between(calendar, b, a)
    total = dt.timedelta(0)
    try:
        for begin, end in calendar._from(a):
            if begin >= b:
                break
            total += min(end, b) - max(begin, a)
    except NoWorkingTime:
        pass  # nothing more to count before the horizon
    return total
