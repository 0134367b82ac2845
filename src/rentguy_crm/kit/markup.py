"""How a value from a record is written into each channel's markup, so that a customer's name can never become a
Slack mention, a fake link, a header or a broken JSON body.

Templates never escape by hand: the environment of each markup applies its escape function to every `{{ … }}`
output (the template's own literal text is the tenant's markup and stays as written). A value marked safe on
purpose (`| safe`, `| tojson`) passes unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Literal
from urllib.parse import quote

Markup = Literal["text", "html", "header", "slack", "teams", "whatsapp", "json", "url"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
# CommonMark punctuation that starts inline markup in an Adaptive Card TextBlock (links, emphasis, code, HTML-like
# tags); each is written with a backslash escape, which CommonMark turns back into the plain character.
_TEAMS_SPECIAL = re.compile(r"([\\`*_~\[\]()<>#|!])")
_WHATSAPP_SPACES = re.compile(r" {4,}")


def plain(value: str) -> str:
    return value


def slack_mrkdwn(value: str) -> str:
    """Slack's "Escaping text" rule: only &, < and > are control characters; they become HTML entities."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_markdown(value: str) -> str:
    """Adaptive Card TextBlocks render a CommonMark subset; a backslash before its punctuation keeps it literal.
    Line breaks inside a value would start lists or paragraphs, so they become spaces."""
    return _TEAMS_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", value))


def whatsapp_parameter(value: str) -> str:
    """WhatsApp refuses template parameters with new lines, tabs or more than four spaces in a row."""
    flat = _CONTROL.sub(" ", _LINE_BREAKS.sub(" ", value))
    return _WHATSAPP_SPACES.sub("    ", flat)


def header(value: str) -> str:
    """A mail header value (subject, recipient): CR, LF and other control characters never reach a header."""
    return _CONTROL.sub(" ", _LINE_BREAKS.sub(" ", value))


def json_string(value: str) -> str:
    """A value inside a JSON string literal of a webhook body: quotes, backslashes and control characters escaped."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def url_component(value: str) -> str:
    """A value inside a URL: percent-encoded, so it cannot add a path, query or host."""
    return quote(value, safe="")


ESCAPES: dict[str, Callable[[str], str]] = {
    "text": plain, "header": header, "slack": slack_mrkdwn, "teams": teams_markdown,
    "whatsapp": whatsapp_parameter, "json": json_string, "url": url_component,
}


def for_chat(channel: str) -> Markup:
    """The markup of a chat message on a channel (the channel it is delivered to, whatever template it used)."""
    return "teams" if channel == "teams" else "slack"
