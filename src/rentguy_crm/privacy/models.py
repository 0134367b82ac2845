"""Where a merged-away contact went, and who objected to marketing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import Base, IdMixin, IdType, utcnow


class ContactRedirect(IdMixin, Base):
    """A contact merged into another: its old id resolves to the kept contact (audit log, links in old mail).
    The merged-away row itself is gone, so `merged_id` is a plain number."""

    __tablename__ = "contact_redirects"
    __table_args__ = (UniqueConstraint("tenant_id", "merged_id"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    merged_id: Mapped[int] = mapped_column(IdType)
    kept_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    merged_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MarketingOptOut(IdMixin, Base):
    """An objection to marketing (GDPR art. 21(2)): no marketing message goes to the contact on any channel.
    Provenance without personal data: the IP only as a keyed hash, the user agent only as a class."""

    __tablename__ = "marketing_optouts"
    __table_args__ = (Index("ix_marketing_optouts_tenant_contact", "tenant_id", "contact_id"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32), default="list-unsubscribe")
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    user_agent_class: Mapped[str | None] = mapped_column(String(32))
