"""Alembic, driven from Python: used by `crm db …`, `make run` and the tests."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from alembic import command
from alembic.config import Config

from rentguy_crm.config import PROJECT_ROOT, get_settings
from rentguy_crm.db import resolve_database_url


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = resolve_database_url(url or get_settings().database_url)
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(revision: str = "head", url: str | None = None) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(revision: str, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        command.current(alembic_config(url))
    return out.getvalue().strip()
