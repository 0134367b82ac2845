"""The suite's notion of "now", injectable so time-dependent behaviour (expiring switches, waits) can be tested.

Inside one process a test installs a clock with `set_clock`. Across processes (the API, `crm workers run`,
`crm run`) a test moves time with a clock file: `CRM_CLOCK_FILE=/path` makes every process read "now" from that
file. Only development and test environments accept it (`config.Settings` refuses it elsewhere), so a stray
variable can never move a production clock.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from rentguy_crm.kit.durations import parse_duration

CLOCK_FILE_VARIABLE = "CRM_CLOCK_FILE"
CLOCK_FILE_ENVIRONMENTS = ("dev", "test")


def system_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_now: Callable[[], dt.datetime] = system_now


def now() -> dt.datetime:
    """Timezone-aware UTC now, from the installed clock."""
    return _now()


def set_clock(fn: Callable[[], dt.datetime] | None) -> None:
    """Install a clock (tests); `None` restores the clock the process started with (system or clock file)."""
    global _now
    _now = fn or _startup_clock()


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


class ClockFileError(ValueError):
    """The clock file holds something that is neither an instant nor an offset."""


def parse_clock_text(text: str, system: dt.datetime) -> dt.datetime:
    """An ISO instant with its offset (time stands still there: "2027-03-28T07:59:00+00:00"), or a shift of the
    system clock ("+2 days", "-90s", "+172800"); empty means the system clock."""
    value = text.strip()
    if not value:
        return system
    if value[0] in "+-":
        try:
            shift = parse_duration(value[1:].strip())
        except ValueError as exc:
            raise ClockFileError(f"clock file offset '{value}': {exc}") from None
        return system + shift if value[0] == "+" else system - shift
    try:
        instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ClockFileError(f"clock file holds '{value[:40]}': give an ISO instant with its offset "
                             "(2027-03-28T08:00:00+00:00) or a shift such as '+2 days'") from None
    if instant.tzinfo is None:
        raise ClockFileError(f"clock file instant '{value}' has no UTC offset; add one (e.g. +00:00)")
    return instant.astimezone(dt.UTC)


class FileClock:
    """Reads "now" from a file a test rewrites. Read on every call (tests and development only), so a rewrite is
    seen at once however fast it follows the last one. A missing file is the system clock; a file that cannot be
    parsed keeps the last good reading rather than stopping every worker."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._text = ""

    def __call__(self) -> dt.datetime:
        system = system_now()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return system
        except OSError:
            return parse_clock_text(self._text, system)
        try:
            now = parse_clock_text(text, system)
        except ClockFileError:
            return parse_clock_text(self._text, system)
        self._text = text
        return now


def clock_file_allowed(env: str) -> bool:
    return env in CLOCK_FILE_ENVIRONMENTS


def _startup_clock() -> Callable[[], dt.datetime]:
    path = os.environ.get(CLOCK_FILE_VARIABLE, "").strip()
    if path and clock_file_allowed(os.environ.get("CRM_ENV", "dev").strip().lower()):
        return FileClock(path)
    return system_now


_now = _startup_clock()
