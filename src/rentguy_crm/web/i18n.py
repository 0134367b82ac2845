"""The web app's languages: gettext catalogs (`i18n/<lang>/LC_MESSAGES/web.po`, compiled in memory at load) and the
person's choice, remembered in a cookie. Dutch first, English second."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
LANGUAGE_COOKIE = "crm_lang"
CATALOGS = Path(__file__).parent / "i18n"
LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


@cache
def translations(language: str) -> Translations:
    """The compiled catalog of one language; no binary .mo lives in the repository."""
    with (CATALOGS / language / "LC_MESSAGES" / "web.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="web")


def language_of(request: Request) -> str:
    """The person's chosen language (cookie), else Dutch."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
