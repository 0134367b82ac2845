"""Human durations used in workflow files and commands: `90s`, `15m`, `2h`, `2 days`, `1 week`."""

from __future__ import annotations

import datetime as dt
import re

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


ACCEPTED_UNITS = "s (seconds), m (minutes), h (hours), d (days) or w (weeks)"


def parse_duration(text: str | int | float | dt.timedelta, *, unit_required: bool = False) -> dt.timedelta:
    """Parse `2h`, `1 day`, `1h30m`; a bare number is seconds unless `unit_required` (what people type at a
    command line or in a query: `--for 2` could mean minutes or hours, so it is refused rather than guessed).
    Raises ValueError with the accepted forms."""
    if isinstance(text, dt.timedelta):
        return text
    if isinstance(text, int | float):
        return _seconds(text, text)
    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        if unit_required:
            raise ValueError(f"'{text}' has no unit; give one of {ACCEPTED_UNITS}, e.g. {cleaned}m or {cleaned}h")
        return _seconds(float(cleaned), text)
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if cleaned[pos:match.start()].strip(" ,"):
            break
        unit = _UNITS.get(match.group(2))
        if unit is None:
            raise ValueError(f"unknown unit '{match.group(2)}' in duration '{text}' (use {ACCEPTED_UNITS})")
        total += float(match.group(1)) * unit
        pos = match.end()
    if pos == 0 or cleaned[pos:].strip():
        raise ValueError(f"'{text}' is not a duration (examples: 90s, 15m, 2h, 2 days, 1h30m)")
    return _seconds(total, text)


def _seconds(total: float, text: object) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=total)
    except (OverflowError, ValueError):
        raise ValueError(f"'{text}' is longer than any duration this suite can hold") from None


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
