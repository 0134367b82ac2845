"""Builders for the privacy tests: a person with a row of every kind that references them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm.models import MarketingOptOut
from rentguy_crm.db import Database
from rentguy_crm.privacy.models import ContactRedirect
from rentguy_crm.support.models import Ticket
from rentguy_crm.templates.models import Delivery
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks.mollie.models import Payment
from tests.factories import Factory


@dataclass
class Person:
    contact: int
    leads: list[int]
    deals: list[int]
    activities: list[int]
    runs: list[int]
    deliveries: list[int]
    payments: list[int]
    optouts: list[int]
    redirects: list[int]
    tickets: list[int]


async def add(db: Database, obj: Any) -> Any:
    async with db.session() as session:
        session.add(obj)
        await session.flush()
        await session.refresh(obj)
    return obj


async def person_with_everything(db: Database, factory: Factory, tenant: Tenant, *, email: str,
                                 first_name: str = "Zebediah", last_name: str = "Quuxley",
                                 phone: str = "+31687654321", run_status: str = "waiting") -> Person:
    """A contact with a lead, a deal on that lead, notes on each, a waiting run, a delivery, a payment, an
    opt-out and a contact merged into it earlier."""
    contact = await factory.contact(tenant, email=email, first_name=first_name, last_name=last_name, phone=phone,
                                    marketing_opt_in=True, consent={"ip": "198.51.100.7", "text_version": "v1"})
    lead = await factory.lead(tenant, contact, message=f"Groetjes, {first_name} {last_name} ({phone})",
                              city="Utrecht")
    deal = await factory.deal(tenant, contact, lead_id=lead.id, title=f"Bruiloft {first_name} {last_name}",
                              value=Decimal("1450.00"))
    notes = [await factory.activity(tenant, contact_id=contact.id, title="Gebeld", body=f"Sprak {first_name}"),
             await factory.activity(tenant, lead_id=lead.id, title="Offerte"),
             await factory.activity(tenant, deal_id=deal.id, title="Contract")]
    now = dt.datetime.now(dt.UTC)
    run = await add(db, AutomationRun(
        tenant_id=tenant.id, workflow_key="proposal_followup", workflow_version=1, trigger_type="test",
        subject_type="deal", lead_id=lead.id, deal_id=deal.id, status=run_status, attempt=1, max_attempts=5,
        run_after=now + dt.timedelta(days=2), current_step=1,
        step_log=[{"step": 0, "type": "send_email", "name": "mail", "status": "done", "attempt": 1,
                   "at": now.isoformat(), "worker": "w", "output": {"recipient": email, "name": first_name}}],
        context={"contact": {"id": contact.id, "email": email}, "contact_id": contact.id},
        sla_due_at=now + dt.timedelta(hours=1)))
    delivery = await add(db, Delivery(tenant_id=tenant.id, idempotency_key=f"run:{run.id}:step:0", channel="email",
                                      template_key="proposal-reminder", template_version=1, recipient=email,
                                      message_id="<x@mr-dj.nl>"))
    payment = await add(db, Payment(tenant_id=tenant.id, provider_payment_id=f"tr_{contact.id}x", deal_id=deal.id,
                                    status="paid", amount=Decimal("500.00"), currency="EUR", paid_at=now,
                                    metadata_={"deal_id": str(deal.id), "customer": f"{first_name} {last_name}",
                                               "email": email}))
    optout = await add(db, MarketingOptOut(tenant_id=tenant.id, contact_id=contact.id, source="test"))
    redirect = await add(db, ContactRedirect(tenant_id=tenant.id, merged_id=10_000 + contact.id, kept_id=contact.id))
    ticket = await add(db, Ticket(tenant_id=tenant.id, number=contact.id, subject=f"Vraag van {first_name}",
                                  description=f"{first_name} {last_name} ({email}, {phone}) vraagt om inzage.",
                                  requester_kind="contact", requester_contact_id=contact.id, requester_email=email,
                                  activity="security_compliance_question", priority="P3"))
    return Person(contact.id, [lead.id], [deal.id], [n.id for n in notes], [run.id], [delivery.id], [payment.id],
                  [optout.id], [redirect.id], [ticket.id])


async def scalar_rows(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.scalars(select(model).where(*where))).all())
