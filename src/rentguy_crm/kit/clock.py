"""The suite's notion of "now", injectable so time-dependent behaviour (expiring switches) can be tested."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

_now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def now() -> dt.datetime:
    """Timezone-aware UTC now, from the installed clock."""
    return _now()


def set_clock(fn: Callable[[], dt.datetime] | None) -> None:
    """Install a clock (tests); `None` restores the system clock."""
    global _now
    _now = fn or (lambda: dt.datetime.now(dt.UTC))


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.current = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta) -> None:
        self.current += delta


def local_text(value: dt.datetime, zone: str) -> str:
    """`2026-11-30 23:24:01 CET`: a time as people in `zone` (an IANA name) read it, the zone named."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")
