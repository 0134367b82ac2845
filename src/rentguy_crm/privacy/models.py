"""Where a merged-away contact went."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, UniqueConstraint
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
