"""The base template library shipped in the repository (`templates/library/<vertical>/<key>.yaml`).

Each file holds one template key for one channel in both languages. The `general` vertical has every key;
the other verticals add variants named `<key>-<vertical>`, which a step prefers for a subject of that vertical.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rentguy_crm.templates.rendering import TemplateContent

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
VERTICALS = ("general", "wedding", "corporate", "festival")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WhatsappSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$", description="The approved WhatsApp template name")
    language: str = Field(description="WhatsApp language code, e.g. nl or en")
    parameters: list[str] = Field(default_factory=list, description="Body parameters, each a template")


class LanguageSpec(_Strict):
    subject: str | None = None
    text_body: str
    html_body: str | None = None
    whatsapp: WhatsappSpec | None = None


class LibraryFile(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9-]{1,63}$")
    channel: Literal["email", "whatsapp", "slack", "teams"]
    description: str | None = None
    variables: list[str] = Field(default_factory=list)
    languages: dict[Literal["nl", "en"], LanguageSpec]


@dataclass(frozen=True)
class SourceTemplate:
    """One (key, channel, language) as a clone source offers it."""

    key: str
    channel: str
    language: str
    content: TemplateContent
    origin: str
    description: str | None = None
    version: int | None = None  # set when the source is another tenant

    @property
    def checksum(self) -> str:
        return content_checksum(self.content)


def content_checksum(content: TemplateContent) -> str:
    canonical = json.dumps({"subject": content.subject, "text_body": content.text_body,
                            "html_body": content.html_body, "variables": sorted(content.variables),
                            "meta": content.meta}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parse(path: Path) -> LibraryFile:
    try:
        return LibraryFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None


@lru_cache(maxsize=1)
def load_library(root: Path = LIBRARY_DIR) -> tuple[SourceTemplate, ...]:
    entries: list[SourceTemplate] = []
    for vertical in VERTICALS:
        for path in sorted((root / vertical).glob("*.yaml")):
            spec = _parse(path)
            for language, lang in spec.languages.items():
                meta: dict[str, Any] = {"whatsapp": lang.whatsapp.model_dump()} if lang.whatsapp else {}
                content = TemplateContent(subject=lang.subject, text_body=lang.text_body, html_body=lang.html_body,
                                          variables=list(spec.variables), meta=meta)
                entries.append(SourceTemplate(key=spec.key, channel=spec.channel, language=language,
                                              content=content, origin=f"base:{vertical}/{path.stem}",
                                              description=spec.description))
    return tuple(entries)
