"""What a contact search text means: part of a name, part of an e-mail address, or a phone number in any
format, matched against the stored (E.164) number by its digits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rentguy_crm.errors import ValidationFailed

# Three characters: the shortest text a trigram index can look up, and short enough for any real search.
MIN_SEARCH_LENGTH = 3
_PHONE_TEXT = re.compile(r"[0-9+()\-./\s]+")


@dataclass(frozen=True)
class ContactSearch:
    """`kind` says which columns to look in; `fragment` is lower-case text to find anywhere in them (for a
    phone: digits, without the trunk prefix 0 or the international prefix 00 that the stored +31... lacks)."""

    kind: Literal["name_or_email", "email", "phone"]
    fragment: str

    def like_pattern(self) -> str:
        escaped = self.fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"


def contact_search(text: str) -> ContactSearch:
    value = " ".join(text.split()).lower()
    if len(value) < MIN_SEARCH_LENGTH:
        raise ValidationFailed(f"q: give at least {MIN_SEARCH_LENGTH} characters to search for.",
                               errors=[{"field": "q", "message": f"at least {MIN_SEARCH_LENGTH} characters",
                                        "type": "string_too_short"}])
    if "@" in value:
        return ContactSearch("email", value.replace(" ", ""))
    digits = re.sub(r"\D", "", value)
    if _PHONE_TEXT.fullmatch(value) and len(digits) >= MIN_SEARCH_LENGTH:
        national = digits.lstrip("0")  # 06..., 0031...: the stored number starts +31 6...
        return ContactSearch("phone", national if len(national) >= MIN_SEARCH_LENGTH else digits)
    return ContactSearch("name_or_email", value)
