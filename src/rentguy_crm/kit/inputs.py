"""What any input may hold, in one place: record ids, page offsets, durations with an upper bound, datetimes
whose UTC value exists, text both databases can store, what a single-line and a multi-line field may contain,
and JSON that is not nested without end.

Every request schema, path and query parameter uses these types, so a value the databases (or Python's own
datetime arithmetic) cannot hold is a 422 naming the field instead of a 500 from deep inside a query."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from rentguy_crm.kit.durations import format_duration, parse_duration

# Ids are BIGINT on Postgres and INTEGER on SQLite: both signed 64-bit.
MAX_ID = 2**63 - 1
# Offsets go into OFFSET, which both databases read as a signed 64-bit number.
MAX_OFFSET = 2**63 - 1
# The longest look-back a `since` window may ask for.
MAX_LOOKBACK = dt.timedelta(days=3660)
# Deepest JSON nesting a request body may have; lead forms and API bodies need a handful of levels.
MAX_JSON_DEPTH = 32

RecordId = Annotated[int, Field(ge=1, le=MAX_ID, description=f"Record id (1..{MAX_ID})")]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="Items to skip from the start of the ordered list")]


# --- text ---------------------------------------------------------------------------------------------------

def storable_text(value: str) -> str:
    """Refuse text a database cannot store: NUL (Postgres text cannot hold it) and lone surrogates (not
    encodable as UTF-8). Other control characters are a matter for the single-line field types."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(storable_text)]


def storable_json(value: Any) -> Any:
    """The same rule for free-form JSON (keys and string values at any depth), which lands in JSON columns."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            storable_text(str(key))
            storable_json(item)
    elif isinstance(value, list | tuple):
        for item in value:
            storable_json(item)
    return value


StorableJson = Annotated[Any, AfterValidator(storable_json)]
TextMap = Annotated[dict[Text, Text], AfterValidator(storable_json)]


# What a single-line and a multi-line field may contain. A name, e-mail address, city or title ends up in mail
# headers, Slack lines and CSV cells; a line break or other control character there is header injection or a
# broken row, never something a person meant. Bodies (messages, notes) keep line breaks and tabs. Both refuse
# NUL (Postgres text cannot hold it) and lone surrogates (not encodable), so bad text is a 422 naming the field
# instead of a failure later.
#
# C0 controls, DEL, C1 controls (NEL among them) and the Unicode line and paragraph separators: everything
# `str.splitlines` or a mail header parser would treat as a break, and what no single line contains.
_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Multi-line text: tab and line feed are fine (a carriage return is turned into one first).
_NOT_IN_A_BODY = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _refuse(value: str, pattern: re.Pattern[str], kind: str, message: str) -> None:
    found = pattern.search(value)
    if found is not None:
        # The code point and position only: the value itself may be personal data.
        # pydantic fills `{name}` placeholders but knows no format specs: the code point is written out here.
        raise PydanticCustomError(kind, message + " (U+{code} at position {position})",
                                  {"code": f"{ord(found.group()):04X}", "position": found.start()})
    if _SURROGATE.search(value):
        raise PydanticCustomError("invalid_unicode", "contains characters that are not valid Unicode text")


def single_line(value: str) -> str:
    """Refuse control characters and line breaks anywhere in the value."""
    _refuse(value, _NOT_IN_A_LINE, "control_character",
            "must be a single line without control characters")
    return value


def multi_line(value: str) -> str:
    """Allow line breaks and tabs; line endings become `\\n`; refuse NUL and other control characters."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    _refuse(value, _NOT_IN_A_BODY, "control_character",
            "must not contain control characters other than line breaks and tabs")
    return value


SingleLine = AfterValidator(single_line)
MultiLine = AfterValidator(multi_line)


# --- datetimes ----------------------------------------------------------------------------------------------

# A day of margin at the top, so a stored value plus a day (an SLA, a reminder) still exists as a datetime.
EARLIEST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 12, 30, 23, 59, 59, tzinfo=dt.UTC)


def utc_in_range(value: dt.datetime) -> dt.datetime:
    """The UTC value of an aware datetime (naive ones are read as UTC), refused when it falls outside the
    range Python and the databases can hold: `9999-12-31T23:59:59-14:00` is in the year 10000 in UTC."""
    try:
        utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is outside the supported range once converted to UTC") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} in UTC")
    return utc


# Bodies: an offset is required (a due time without one is ambiguous); stored and shown in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(utc_in_range)]
# Filters and machine payloads: with or without an offset; one without is read as UTC.
FilterDatetime = Annotated[dt.datetime, AfterValidator(utc_in_range)]


# --- durations ----------------------------------------------------------------------------------------------

def bounded_duration(text: Any, maximum: dt.timedelta = MAX_LOOKBACK) -> dt.timedelta:
    """A human duration (`15m`, `2 days`) that is positive and at most `maximum`."""
    if not isinstance(text, str | int | float | dt.timedelta) or isinstance(text, bool):
        raise ValueError("must be a duration such as 15m, 2h or 2 days")
    value = parse_duration(text, unit_required=isinstance(text, str))  # people type it: `2` is not guessed
    if value <= dt.timedelta(0):
        raise ValueError("must be longer than zero")
    if value > maximum:
        raise ValueError(f"must be at most {format_duration(maximum)}")
    return value


LookBack = Annotated[dt.timedelta, BeforeValidator(bounded_duration),
                     WithJsonSchema({"type": "string", "examples": ["1h", "2 days"],
                                     "description": f"A duration such as 15m, 2h or 2 days; at most "
                                                    f"{format_duration(MAX_LOOKBACK)}"})]


# --- JSON nesting -------------------------------------------------------------------------------------------

_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when brackets outside strings nest deeper than `limit`: checked before parsing, so a body of
    30,000 nested brackets is refused in one pass instead of exhausting the parser's recursion."""
    depth = 0
    for match in _JSON_TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False
