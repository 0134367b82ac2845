"""The one rule for text that people send: what a single-line and a multi-line field may contain.

A name, e-mail address, city or title ends up in mail headers, Slack lines and CSV cells; a line break or
other control character there is header injection or a broken row, never something a person meant. Bodies
(messages, notes) keep line breaks and tabs. Both refuse NUL (Postgres text cannot hold it) and lone
surrogates (not encodable), so bad text is a 422 naming the field instead of a failure later.
"""

from __future__ import annotations

import re

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

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
