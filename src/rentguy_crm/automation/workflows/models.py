"""Stored workflow versions (`workflows`): what a tenant's runs start from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin


class Workflow(IdMixin, TimestampMixin, Base):
    """One version of a tenant's workflow definition. A run keeps the version it started with."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("tenant_id", "key", "version"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200))
    triggers: Mapped[list[Any]] = mapped_column(default=list)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checksum: Mapped[str] = mapped_column(String(64))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
