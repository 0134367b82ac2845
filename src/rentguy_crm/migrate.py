"""Alembic, driven from Python: used by `crm db …`, `make run` and the tests."""

from __future__ import annotations

import io
import sys
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from rentguy_crm.config import PROJECT_ROOT, get_settings
from rentguy_crm.db import resolve_database_url


def alembic_config(url: str | None = None, stdout: TextIO | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"), stdout=stdout or sys.stdout)
    cfg.attributes["database_url"] = resolve_database_url(url or get_settings().database_url)
    cfg.attributes["configure_logging"] = False
    return cfg


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def check_revision(revision: str) -> None:
    """Refuse a target Alembic would not find, naming the ones it would (`head`, `base` and relative +1/-1 too)."""
    if revision in ("head", "heads", "base") or revision.lstrip("+-").isdigit() or "@" in revision:
        return
    known = revisions()
    if revision not in known and not any(r.startswith(revision) for r in known):
        raise ValueError(f"unknown revision '{revision}'; known: {', '.join(known)} (or head, base)")


def upgrade(revision: str = "head", url: str | None = None) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(revision: str, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> str:
    # Alembic prints through the config's own stream (bound when the config is made), so hand it a buffer.
    out = io.StringIO()
    command.current(alembic_config(url, stdout=out))
    return out.getvalue().strip()
