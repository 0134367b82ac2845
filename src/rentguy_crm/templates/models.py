"""Message templates per tenant, their numbered versions (draft / live / archived) and the record of
deliveries already made, keyed by the step's idempotency key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, TimestampMixin, utcnow

CHANNELS = ("email", "whatsapp", "slack", "teams")
LANGUAGES = ("nl", "en")
VERSION_STATUSES = ("draft", "live", "archived")

_LIVE = "status = 'live'"


class Template(IdMixin, TimestampMixin, Base):
    """One message a tenant sends, identified by key, channel and language."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("tenant_id", "key", "channel", "language"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(String(300))


class TemplateVersion(IdMixin, TimestampMixin, Base):
    """The content of a template at one version. Only one version of a template is ever live."""

    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version"),
        # The database itself refuses a second live version, whatever races the service loses.
        Index("uq_template_versions_one_live", "tenant_id", "template_id", unique=True,
              postgresql_where=text(_LIVE), sqlite_where=text(_LIVE)),
        Index("ix_template_versions_tenant_template", "tenant_id", "template_id"),
    )

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(IdType, ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    subject: Mapped[str | None] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text, default="")
    html_body: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[list[Any]] = mapped_column(default=list)
    # Channel specifics, e.g. {"whatsapp": {"name": ..., "language": ..., "parameters": [...]}}.
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checksum: Mapped[str] = mapped_column(String(64))
    # Where a cloned version came from ("base:general/lead-welcome", "tenant:other") and the checksum of the
    # source content at that moment: a later clone compares against it to see whether the tenant edited its copy.
    origin: Mapped[str] = mapped_column(String(200), default="manual")
    source_checksum: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200), default="system")
    published_at: Mapped[dt.datetime | None]
    archived_at: Mapped[dt.datetime | None]


class Delivery(IdMixin, Base):
    """A message a channel accepted, keyed by the step's idempotency key: a retried step finds it and does
    not send again."""

    __tablename__ = "template_deliveries"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    template_key: Mapped[str | None] = mapped_column(String(64))
    template_version: Mapped[int | None] = mapped_column(Integer)
    recipient: Mapped[str | None] = mapped_column(String(320))
    message_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
