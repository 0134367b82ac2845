"""A person who came in through the front door: a lead posted to the API, the welcome mail in the outbox,
a run waiting, a deal with a payment, notes, an opt-out, a merged duplicate. Used by the access and erasure
tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.config import get_settings
from rentguy_crm.db import Database
from rentguy_crm.tenants.models import Tenant
from rentguy_crm.webhooks.mollie.models import Payment
from tests.automation_support import Clock, install_workflow, run_due, workflow_doc
from tests.templates_support import working_tenant

EMAIL = "zebediah.quuxley@example.nl"
PHONE = "+31687651234"
DUTCH_PHONE = "0687651234"
FIRST, LAST = "Zebediah", "Quuxley"
NEEDLES = [EMAIL, PHONE, DUTCH_PHONE, FIRST, LAST, f"{FIRST} {LAST}"]


@dataclass
class Scenario:
    tenant: Tenant
    headers: dict[str, str]
    contact_id: int
    lead_id: int
    duplicate_id: int
    deal_id: int
    run_id: int
    payment_id: int
    clock: Clock


def outbox(tenant: Tenant) -> Any:
    return get_settings().var_dir / "outbox" / tenant.slug


async def person_through_the_front_door(client, db: Database, factory) -> Scenario:  # type: ignore[no-untyped-def]
    from rentguy_crm.automation.engine.worker import load_plugins

    load_plugins()
    tenant = await working_tenant(db, {"email": {"provider": "outbox", "from_address": "Mr. DJ <info@mr-dj.nl>"}},
                                  with_workflows=False)
    await install_workflow(db, tenant, workflow_doc(steps=[
        {"type": "send_email", "template": "lead-welcome"},
        {"type": "wait", "duration": "2 days"},
        {"type": "create_task", "title": "Bel de lead terug", "team": "sales"}]))
    admin = await factory.headers(tenant, "admin")
    posted = await client.post("/api/v1/leads", headers={**admin, "Idempotency-Key": "form-123"}, json={
        "first_name": FIRST, "last_name": LAST, "email": EMAIL.upper(), "phone": DUTCH_PHONE,
        "event_type": "bruiloft", "event_date": "2026-08-01", "city": "Zwolle", "marketing_opt_in": True,
        "message": f"Hoi, ik ben {FIRST}, bel me op {DUTCH_PHONE}"})
    assert posted.status_code == 201, posted.text
    lead_id, contact_id = posted.json()["lead_id"], posted.json()["contact_id"]
    clock = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert await run_due(db, clock) == ["waiting"]
    async with db.session() as session:
        run_id = await session.scalar(select(AutomationRun.id).where(AutomationRun.lead_id == lead_id))
    assert list(outbox(tenant).glob(f"run-{run_id}-step-*.eml")), "the welcome mail is in the outbox"
    duplicate = await factory.contact(tenant, email="zq@werk.example.nl", first_name=FIRST, last_name=LAST)
    merged = await client.post(f"/api/v1/crm/contacts/{contact_id}/merge", headers=admin,
                               json={"other_id": duplicate.id, "reason": "same person"})
    assert merged.status_code == 200
    deal = await client.post("/api/v1/crm/deals", headers=admin, json={
        "lead_id": lead_id, "pipeline": "wedding", "title": f"Bruiloft {FIRST} {LAST}", "value": "1450.00"})
    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["id"]
    note = await client.post("/api/v1/crm/activities", headers=admin, json={
        "title": "Gebeld", "body": f"{FIRST} wil een lichtshow", "contact_id": contact_id})
    assert note.status_code == 201
    async with db.session() as session:
        payment = Payment(tenant_id=tenant.id, provider_payment_id="tr_zq1", deal_id=deal_id, status="paid",
                          amount=Decimal("500.00"), currency="EUR", paid_at=clock.now,
                          metadata_={"deal_id": str(deal_id), "description": f"Aanbetaling {FIRST} {LAST}"})
        session.add(payment)
        await session.flush()
        payment_id = payment.id
    return Scenario(tenant, admin, contact_id, lead_id, duplicate.id, deal_id, run_id, payment_id, clock)
