"""Tenant rows: one per customer of the suite (Mr. DJ is `mrdj`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, TimestampMixin


class Tenant(IdMixin, TimestampMixin, Base):
    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Amsterdam")
    locale: Mapped[str] = mapped_column(String(8), default="nl")
    # The whole provisioning document as last applied; the typed view is tenants.config.TenantConfig.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_checksum: Mapped[str] = mapped_column(String(64), default="")
