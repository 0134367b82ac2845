"""Lead-to-cash records: contacts, leads, pipelines and stages, deals, activities."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from rentguy_crm.db import NEVER_REUSED_IDS, Base, IdMixin, IdType, TimestampMixin, utcnow

LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "lost", "spam")
ACTIVITY_KINDS = ("note", "task")
ACTIVITY_STATUSES = ("open", "done", "cancelled")
DEAL_STATUSES = ("open", "won", "lost")


class Contact(IdMixin, TimestampMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # One contact per tenant per e-mail, and per phone when there is no e-mail. These are what make
        # concurrent submissions of the same person land on one contact.
        Index("uq_contacts_tenant_email", "tenant_id", "email", unique=True,
              postgresql_where=text("email IS NOT NULL"), sqlite_where=text("email IS NOT NULL")),
        Index("uq_contacts_tenant_phone_no_email", "tenant_id", "phone", unique=True,
              postgresql_where=text("email IS NULL AND phone IS NOT NULL"),
              sqlite_where=text("email IS NULL AND phone IS NOT NULL")),
        # Contact search (`q`): any part of the name, e-mail address or phone number. Trigram indexes on Postgres
        # find `LIKE '%...%'`; SQLite keeps plain indexes and scans (its tenants are small).
        Index("ix_contacts_full_name_trgm", func.lower(text("(first_name || ' ') || last_name")).label("full_name"),
              postgresql_using="gin", postgresql_ops={"full_name": "gin_trgm_ops"}),
        Index("ix_contacts_email_trgm", "email", postgresql_using="gin", postgresql_ops={"email": "gin_trgm_ops"}),
        Index("ix_contacts_phone_trgm", "phone", postgresql_using="gin", postgresql_ops={"phone": "gin_trgm_ops"}),
        # Newest first, the default order: a page (or a search matching many) reads the first rows, sorts none.
        Index("ix_contacts_tenant_created", "tenant_id", "created_at", "id"),
        NEVER_REUSED_IDS)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    company: Mapped[str | None] = mapped_column(String(200))
    marketing_opt_in: Mapped[bool] = mapped_column(default=False)
    # Provenance of the marketing consent: text version, time, IP, user agent.
    consent: Mapped[dict[str, Any] | None] = mapped_column()
    owner: Mapped[str | None] = mapped_column(String(200))


class Lead(IdMixin, TimestampMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_leads_tenant_created", "tenant_id", "created_at"),
        Index("ix_leads_tenant_submission", "tenant_id", "submission_hash"),
        # The lead inbox: a status, newest first, by cursor. Owner and team ride along in the index, so counting
        # "my contacted leads" reads the index alone, not 12,000 table rows.
        Index("ix_leads_tenant_status_created", "tenant_id", "status", "created_at", "id",
              postgresql_include=["owner", "team"]), NEVER_REUSED_IDS)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(32), default="new")
    source: Mapped[str] = mapped_column(String(64), default="website_form")
    event_type: Mapped[str | None] = mapped_column(String(32))
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    guests: Mapped[int | None] = mapped_column(Integer)
    venue: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(200))
    budget: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    message: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    team: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(200))
    flags: Mapped[list[Any]] = mapped_column(default=list)
    utm: Mapped[dict[str, Any]] = mapped_column(default=dict)
    submission_hash: Mapped[str | None] = mapped_column(String(64))


class Pipeline(IdMixin, TimestampMixin, Base):
    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    vertical: Mapped[str] = mapped_column(String(64))
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class PipelineStage(IdMixin, TimestampMixin, Base):
    __tablename__ = "pipeline_stages"
    __table_args__ = (UniqueConstraint("pipeline_id", "key"),)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    pipeline_id: Mapped[int] = mapped_column(IdType, ForeignKey("pipelines.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    automation_flow: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))  # "won" / "lost" closes the deal


class Deal(IdMixin, TimestampMixin, Base):
    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_tenant_stage", "tenant_id", "stage_id"), NEVER_REUSED_IDS)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("leads.id", ondelete="SET NULL"))
    pipeline_id: Mapped[int] = mapped_column(IdType, ForeignKey("pipelines.id"))
    stage_id: Mapped[int] = mapped_column(IdType, ForeignKey("pipeline_stages.id"))
    title: Mapped[str] = mapped_column(String(300))
    value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    owner: Mapped[str | None] = mapped_column(String(200))
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    stage_changed_at: Mapped[dt.datetime | None]
    # Set by the payment webhook: when the first payment landed and how much has been paid in all.
    paid_at: Mapped[dt.datetime | None]
    amount_paid: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))


class Activity(IdMixin, TimestampMixin, Base):
    """A note or a task on a contact, lead or deal."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_tenant_status_due", "tenant_id", "status", "due_at"),
                      # A contact's timeline, newest first (and the cascade when a contact goes).
                      Index("ix_activities_tenant_contact_created", "tenant_id", "contact_id", "created_at", "id"),
                      Index("ix_activities_tenant_created", "tenant_id", "created_at", "id"),
                      NEVER_REUSED_IDS)

    tenant_id: Mapped[int] = mapped_column(IdType, ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="note")
    contact_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("contacts.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("leads.id", ondelete="CASCADE"))
    deal_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("deals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[dt.datetime | None]
    owner: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    completed_at: Mapped[dt.datetime | None]
    # Set by automation steps so a retried step finds the task it already made.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)


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
