"""Objection to marketing: marketing mail carries a one-click List-Unsubscribe (RFC 8058) with a signed token;
GET shows a button and changes nothing; POST records the opt-out with provenance; afterwards no marketing
message goes to the person on any channel, including the next step of a workflow already running."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes
from urllib.parse import urlparse

from sqlalchemy import select

from rentguy_crm import provisioning
from rentguy_crm.automation.engine import channel_steps
from rentguy_crm.automation.engine.step_registry import StepContext
from rentguy_crm.automation.engine.worker import load_plugins
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows.definitions import SendWhatsapp
from rentguy_crm.crm import optout
from rentguy_crm.crm.models import Contact, MarketingOptOut
from rentguy_crm.integrations.registry import build_channels
from rentguy_crm.tenants import repository as tenants
from rentguy_crm.tenants.config import parse_config
from tests.automation_support import Clock, install_workflow, queued_run, run_due, workflow_doc
from tests.factories import tenant_document
from tests.privacy.scenario import outbox
from tests.table_counts import row_counts

OUTBOX_EMAIL = {"email": {"provider": "outbox", "from_address": "Mr. DJ <info@mr-dj.nl>"}}


async def _tenant(db, **privacy):  # type: ignore[no-untyped-def]
    config = parse_config(tenant_document("mrdj", channels=OUTBOX_EMAIL, privacy=privacy))
    async with db.session() as session:
        await provisioning.provision(session, config, with_workflows=False, actor="test")
        return await tenants.get(session, "mrdj")


def _mails(tenant, run_id: int) -> list:  # type: ignore[no-untyped-def]
    return [message_from_bytes(p.read_bytes()) for p in sorted(outbox(tenant).glob(f"run-{run_id}-step-*.eml"))]


async def test_unsubscribe_stops_the_next_marketing_step_of_a_running_workflow(client, db, factory) -> None:
    load_plugins()
    tenant = await _tenant(db, marketing_workflows=["nieuwsbrief"])
    workflow = await install_workflow(db, tenant, workflow_doc("nieuwsbrief", steps=[
        {"type": "send_email", "template": "lead-welcome"},
        {"type": "wait", "duration": "7 days"},
        {"type": "send_email", "template": "lead-welcome"}]))
    contact = await factory.contact(tenant, email="fan@example.nl", marketing_opt_in=True)
    lead = await factory.lead(tenant, contact)
    clock = Clock(dt.datetime.now(dt.UTC))
    run = await queued_run(db, workflow, lead_id=lead.id, now=clock.now)
    assert await run_due(db, clock) == ["waiting"]
    [first] = _mails(tenant, run.id)
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = first["List-Unsubscribe"].split(",")[0].strip("<> ")
    assert link.startswith("http") and "/api/v1/unsubscribe/" in link and str(contact.email) not in link
    path = urlparse(link).path

    before = await row_counts(db)
    page = await client.get(path)
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    assert await row_counts(db) == before  # a GET (a link scanner) changes nothing

    posted = await client.post(path, content=b"List-Unsubscribe=One-Click",
                               headers={"content-type": "application/x-www-form-urlencoded",
                                        "user-agent": "Mozilla/5.0 (iPhone) Mobile"})
    assert posted.status_code == 200, posted.text
    async with db.session() as session:
        [record] = (await session.scalars(select(MarketingOptOut))).all()
        stored = await session.get(Contact, contact.id)
    assert (record.contact_id, record.source, record.user_agent_class) == (contact.id, "list-unsubscribe", "mobile")
    assert record.ip_hash and "203.0.113.10" not in record.ip_hash
    assert stored.marketing_opt_in is False and stored.consent["source"] == "list-unsubscribe"

    clock.advance(days=8)
    assert await run_due(db, clock) == ["succeeded"]
    async with db.session() as session:
        done = await session.get(AutomationRun, run.id)
    assert done.step_log[-1]["output"] == {"skipped": "the contact objected to marketing"}, done.step_log[-1]
    assert len(_mails(tenant, run.id)) == 1


async def test_a_later_tick_in_a_form_does_not_outweigh_the_objection(client, db, factory) -> None:
    tenant = await _tenant(db)
    contact = await factory.contact(tenant, email="fan@example.nl", marketing_opt_in=True)
    await client.post(f"/api/v1/unsubscribe/{optout.token_for(tenant.id, contact.id)}")
    async with db.session() as session:
        stored = await session.get(Contact, contact.id)
        stored.marketing_opt_in = True  # e.g. a later form with the box ticked
    async with db.session() as session:
        refusal = await optout.marketing_refusal(session, tenant, {"id": contact.id, "marketing_opt_in": True},
                                                 step_marketing=True, workflow=None, template=None)
    assert refusal == "the contact objected to marketing"


async def test_no_marketing_whatsapp_after_an_objection(client, db, factory) -> None:
    tenant = await _tenant(db)
    contact = await factory.contact(tenant, email="fan@example.nl", phone="+31612345678", marketing_opt_in=True)
    await client.post(f"/api/v1/unsubscribe/{optout.token_for(tenant.id, contact.id)}")
    async with db.session() as session:
        ctx = StepContext(session=session, tenant=tenant, run_id=7, step_number=1, idempotency_key="run:7:step:1",
                          variables={"contact": {"id": contact.id, "phone": contact.phone, "marketing_opt_in": True}},
                          channels=await build_channels(tenant), now=dt.datetime.now(dt.UTC))
        result = await channel_steps.send_whatsapp(
            ctx, SendWhatsapp(type="send_whatsapp", template="proposal-reminder", marketing=True))
    assert result.output == {"skipped": "the contact objected to marketing"}


async def test_a_forged_or_foreign_token_is_404_and_changes_nothing(client, db, factory) -> None:
    tenant = await _tenant(db)
    contact = await factory.contact(tenant, email="fan@example.nl")
    good = optout.token_for(tenant.id, contact.id)
    before = await row_counts(db)
    for token in (good[:-1] + ("A" if good[-1] != "A" else "B"), f"{tenant.id}.{contact.id + 1}.{good.split('.')[2]}",
                  "nonsense", "1.2.3"):
        assert (await client.get(f"/api/v1/unsubscribe/{token}")).status_code == 404
        response = await client.post(f"/api/v1/unsubscribe/{token}")
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert await row_counts(db) == before


async def test_posting_twice_records_once(client, db, factory) -> None:
    tenant = await _tenant(db)
    contact = await factory.contact(tenant, email="fan@example.nl", marketing_opt_in=True)
    token = optout.token_for(tenant.id, contact.id)
    for _ in range(2):
        assert (await client.post(f"/api/v1/unsubscribe/{token}")).status_code == 200
    async with db.session() as session:
        assert len((await session.scalars(select(MarketingOptOut))).all()) == 1
