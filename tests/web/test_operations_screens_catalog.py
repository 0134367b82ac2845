"""Every text of the Automations and Templates screens has its Dutch translation and an English entry."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from rentguy_crm.web.i18n import CATALOGS
from rentguy_crm.web.rendering import TEMPLATES

SCREENS = ("automations", "message_templates")
LITERAL = re.compile(r"_\('((?:[^'\\]|\\.)+)'")


def _texts() -> set[str]:
    return {match for screen in SCREENS for page in (TEMPLATES / screen).rglob("*.html")
            for match in LITERAL.findall(page.read_text(encoding="utf-8"))}


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_text_of_these_screens_is_in_the_catalog(language: str) -> None:
    with (CATALOGS / language / "LC_MESSAGES" / "web.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    texts = _texts()
    assert len(texts) > 50
    missing = sorted(text for text in texts if text not in catalog)
    assert missing == []
    if language == "nl":
        untranslated = sorted(text for text in texts if not catalog[text].string)
        assert untranslated == []
