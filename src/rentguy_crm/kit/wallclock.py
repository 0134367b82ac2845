"""Moments and durations in a time zone, counted the way people count them.

Whole days move the local calendar: "1 day after Saturday 10:00" is Sunday 10:00 on the local clock, also when
summer time starts or ends in between (that day has 23 or 25 hours). What is left over (hours, minutes) is elapsed
time. A date on its own is read on the local wall clock: `2027-03-28` plus 10 hours is 10:00 that day, local time.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

ONE_DAY = dt.timedelta(days=1)


@lru_cache(maxsize=64)
def _zone(name: str) -> dt.tzinfo:
    return ZoneInfo(name)


def zone_of(zone: str | dt.tzinfo | None) -> dt.tzinfo:
    """A zone from an IANA name (a tenant's `timezone`), a tzinfo, or None for UTC."""
    if zone is None:
        return dt.UTC
    return zone if isinstance(zone, dt.tzinfo) else _zone(zone)


def in_zone(moment: dt.datetime, zone: str | dt.tzinfo | None) -> dt.datetime:
    """The moment on the zone's clock; a naive datetime is taken to be the zone's wall-clock time already."""
    tz = zone_of(zone)
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz)


def split_days(delta: dt.timedelta) -> tuple[dt.timedelta, dt.timedelta]:
    """(whole days, the rest), both with the sign of `delta`: -25 hours is (-1 day, -1 hour)."""
    size = abs(delta)
    days = dt.timedelta(days=size.days)
    rest = size - days
    return (-days, -rest) if delta < dt.timedelta(0) else (days, rest)


def shift(moment: dt.datetime, delta: dt.timedelta, zone: str | dt.tzinfo | None) -> dt.datetime:
    """`moment + delta` in `zone`: whole days keep the local clock time, the rest is elapsed time. Returns UTC.

    (UTC, because Python compares a local time in the repeated hour of a fall-back night with a time of another
    zone as never equal.)
    """
    days, rest = split_days(delta)
    if days:
        # The calendar step on the wall clock, then back to an instant.
        moment = in_zone(in_zone(moment, zone).replace(tzinfo=None) + days, zone)
    return moment.astimezone(dt.UTC) + rest


def wall_clock(day: dt.date, offset: dt.timedelta, zone: str | dt.tzinfo | None) -> dt.datetime:
    """The moment (UTC) `offset` after the start of `day` on the local wall clock: (2027-03-28, 10 hours) is 10:00
    that day whether or not the clocks moved at 02:00."""
    return in_zone(dt.datetime.combine(day, dt.time()) + offset, zone).astimezone(dt.UTC)


def local_date(moment: dt.datetime, zone: str | dt.tzinfo | None) -> dt.date:
    """The calendar date of a moment on the zone's clock."""
    return in_zone(moment, zone).date()
