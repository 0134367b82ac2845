"""Report periods: ISO weeks (`2026-W48`, ISO 8601 week dates) and months (`2026-11`), as half-open UTC ranges.

Weeks and months are UTC, like the reporting views (`crm_report_automation_sla_weekly`), so the report and
Metabase give the same numbers; only the delivery time is the tenant's wall clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A period that is malformed, or not yet over."""


@dataclass(frozen=True)
class Period:
    label: str            # 2026-W48 or 2026-11
    start: dt.datetime    # inclusive, UTC
    end: dt.datetime      # exclusive, UTC

    @property
    def days(self) -> list[dt.date]:
        return [self.start.date() + dt.timedelta(days=n) for n in range((self.end - self.start).days)]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def week(label: str) -> Period:
    """`2026-W48` → Monday 2026-11-23 00:00 UTC to Monday 2026-11-30 00:00 UTC. Raises PeriodError."""
    match = WEEK.match(label.strip())
    if not match:
        raise PeriodError(f"'{label}' is not an ISO week; write it as YYYY-Www, e.g. 2026-W48")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise PeriodError(f"'{label}': {year} has no ISO week {number}") from None
    return Period(f"{year}-W{number:02d}", _midnight(monday), _midnight(monday + dt.timedelta(days=7)))


def week_of(day: dt.date) -> Period:
    year, number, _ = day.isocalendar()
    return week(f"{year}-W{number:02d}")


def month(label: str) -> Period:
    """`2026-11` → 2026-11-01 00:00 UTC to 2026-12-01 00:00 UTC. Raises PeriodError."""
    match = MONTH.match(label.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise PeriodError(f"'{label}' is not a month; write it as YYYY-MM, e.g. 2026-11")
    year, number = int(match.group(1)), int(match.group(2))
    first = dt.date(year, number, 1)
    following = dt.date(year + (number == 12), number % 12 + 1, 1)
    return Period(f"{year}-{number:02d}", _midnight(first), _midnight(following))


def previous_week(period: Period) -> Period:
    return week_of((period.start - dt.timedelta(days=7)).date())


def previous_month(period: Period) -> Period:
    last = (period.start - dt.timedelta(days=1)).date()
    return month(f"{last.year}-{last.month:02d}")


def weeks_touching(period: Period) -> list[Period]:
    """The ISO weeks that overlap `period`, in order."""
    weeks: list[Period] = []
    current = week_of(period.start.date())
    while current.start < period.end:
        weeks.append(current)
        current = week_of(current.end.date())
    return weeks


def require_past(period: Period, now: dt.datetime, noun: str) -> Period:
    """The period if it is over at `now`; a current or future one raises PeriodError."""
    if period.end > now:
        raise PeriodError(f"{noun} {period.label} is not over yet (it ends {period.end:%Y-%m-%d %H:%M} UTC); "
                          f"only past {noun}s can be reported")
    return period
