"""A clean submission never matches what was judged spam: not in the double-click window, not by
Idempotency-Key, not by external_id, not through a contact that only spam made. It creates a real lead with
its runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from tests.automation_support import install_workflow, workflow_doc
from tests.intake.test_pipeline import PUBLIC, count, form, only
from tests.integrations.captcha.fake_siteverify import GOOD_TOKEN, SECRET, siteverify_server
from tests.integrations.captcha.test_captcha import captcha_tenant

SERVER = "/api/v1/leads"


@pytest.fixture
async def intake_workflow(db: Database, mrdj) -> None:  # type: ignore[no-untyped-def]
    await install_workflow(db, mrdj, workflow_doc("lead_intake"))


def _other_client(app: Any) -> httpx.AsyncClient:
    """The same app seen from another address (its own per-IP limit)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.77", 50000)),
                             base_url="http://testserver")


async def leads(db: Database) -> list[Lead]:
    async with db.session() as session:
        return list((await session.scalars(select(Lead).order_by(Lead.id))).all())


async def runs_of(db: Database, lead_id: int) -> list[AutomationRun]:
    async with db.session() as session:
        return list((await session.scalars(select(AutomationRun).where(AutomationRun.lead_id == lead_id))).all())


async def assert_real_lead_with_intake_run(db: Database, body: dict[str, Any]) -> Lead:
    [spam, real] = await leads(db)
    assert spam.status == "spam" and real.status == "new" and "spam" not in real.flags
    assert body["lead_id"] == real.id and body["automation_triggered"] is True
    assert [(r.workflow_key, r.status) for r in await runs_of(db, real.id)] == [("lead_intake", "queued")]
    assert await runs_of(db, spam.id) == []
    return real


async def test_honeypot_post_then_the_same_person_without_it_makes_a_real_lead(
        client: httpx.AsyncClient, db: Database, mrdj, intake_workflow) -> None:
    spam = await client.post(PUBLIC, json=form(website="http://spam.example"))
    clean = await client.post(PUBLIC, json=form())
    assert (spam.status_code, clean.status_code) == (201, 201), clean.text
    assert clean.json()["lead_id"] != spam.json()["lead_id"]
    assert "Idempotent-Replayed" not in clean.headers
    await assert_real_lead_with_intake_run(db, clean.json())


async def test_clean_submission_after_spam_is_answered_as_a_new_person(client: httpx.AsyncClient, db: Database,
                                                                       mrdj, intake_workflow) -> None:
    await client.post(PUBLIC, json=form(first_name="Buy", last_name="Cheap Pills", website="x",
                                        marketing_opt_in=True))
    clean = await client.post(PUBLIC, json=form(first_name="Anna", last_name="de Vries", phone="06 12345678"))
    assert clean.json()["duplicate"] is False
    contact = await only(db, Contact)  # one person, one contact: the clean submission's details
    assert (contact.first_name, contact.last_name, contact.phone) == ("Anna", "de Vries", "+31612345678")
    assert contact.marketing_opt_in is False and contact.consent is None


async def test_spam_records_no_consent_for_the_address_it_used(client: httpx.AsyncClient, db: Database,
                                                               mrdj) -> None:
    await client.post(PUBLIC, json=form(website="x", marketing_opt_in=True))
    contact = await only(db, Contact)
    assert contact.marketing_opt_in is False and contact.consent is None


async def test_spam_leaves_a_known_contact_untouched(client: httpx.AsyncClient, db: Database, factory,
                                                     mrdj) -> None:
    await factory.contact(mrdj, first_name="", last_name="de Vries", email="anna@example.nl", phone=None)
    await client.post(PUBLIC, json=form(first_name="Bot", phone="06 12345678", website="x", marketing_opt_in=True))
    contact = await only(db, Contact)
    assert (contact.first_name, contact.phone, contact.marketing_opt_in) == ("", None, False)


async def test_contact_with_a_real_lead_is_not_taken_over_after_spam(client: httpx.AsyncClient, db: Database,
                                                                     mrdj) -> None:
    await client.post(PUBLIC, json=form(first_name="Anna", message="first"))
    await client.post(PUBLIC, json=form(first_name="Bot", website="x"))
    again = await client.post(PUBLIC, json=form(first_name="Someone else", message="second"))
    assert again.json()["duplicate"] is True
    assert (await only(db, Contact)).first_name == "Anna"


async def test_same_idempotency_key_after_spam_makes_a_real_lead(client: httpx.AsyncClient, db: Database, mrdj,
                                                                 intake_workflow) -> None:
    headers = {"Idempotency-Key": "form-7"}
    await client.post(PUBLIC, json=form(website="x"), headers=headers)
    clean = await client.post(PUBLIC, json=form(), headers=headers)
    assert clean.status_code == 201, clean.text
    await assert_real_lead_with_intake_run(db, clean.json())
    replay = await client.post(PUBLIC, json=form(), headers=headers)  # the key now belongs to the real lead
    assert replay.json() == clean.json() and replay.headers["Idempotent-Replayed"] == "true"
    assert await count(db, Lead) == 2


async def test_spam_retry_with_its_key_is_still_answered_from_the_spam_lead(client: httpx.AsyncClient,
                                                                             db: Database, mrdj) -> None:
    headers = {"Idempotency-Key": "bot-1"}
    first = await client.post(PUBLIC, json=form(website="x"), headers=headers)
    again = await client.post(PUBLIC, json=form(website="x"), headers=headers)
    assert again.json() == first.json() and await count(db, Lead) == 1


async def test_idempotency_key_of_a_real_lead_still_refuses_another_body(client: httpx.AsyncClient,
                                                                          db: Database, mrdj) -> None:
    headers = {"Idempotency-Key": "form-8"}
    await client.post(PUBLIC, json=form(), headers=headers)
    other = await client.post(PUBLIC, json=form(message="changed"), headers=headers)
    assert other.status_code == 409 and await count(db, Lead) == 1


async def test_lead_staff_marked_spam_does_not_swallow_the_next_submission(client: httpx.AsyncClient,
                                                                           db: Database, factory, mrdj,
                                                                           intake_workflow) -> None:
    first = (await client.post(PUBLIC, json=form())).json()
    headers = await factory.headers(mrdj, "sales")
    marked = await client.patch(f"/api/v1/crm/leads/{first['lead_id']}", json={"status": "spam"}, headers=headers)
    assert marked.status_code == 200
    again = await client.post(PUBLIC, json=form())
    assert again.status_code == 201 and again.json()["lead_id"] != first["lead_id"]
    assert [r.workflow_key for r in await runs_of(db, again.json()["lead_id"])] == ["lead_intake"]


async def test_server_post_of_a_spam_external_id_without_honeypot_makes_it_the_real_lead(
        client: httpx.AsyncClient, db: Database, factory, mrdj, intake_workflow) -> None:
    headers = await factory.headers(mrdj, "sales")
    spam = await client.post(SERVER, json=form(tenant=None, external_id="site-9", website="x"), headers=headers)
    clean = await client.post(SERVER, json=form(tenant=None, external_id="site-9", city="Utrecht"),
                              headers=headers)
    assert (spam.status_code, clean.status_code) == (201, 201), clean.text
    lead = await only(db, Lead)
    assert (lead.id, lead.status, lead.flags, lead.city) == (spam.json()["lead_id"], "new", [], "Utrecht")
    assert (lead.priority, lead.team) == ("high", "wedding_specialists")
    assert [r.workflow_key for r in await runs_of(db, lead.id)] == ["lead_intake"]


async def test_spam_post_of_a_real_external_id_changes_nothing(client: httpx.AsyncClient, db: Database,
                                                               factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    await client.post(SERVER, json=form(tenant=None, external_id="site-10", city="Utrecht"), headers=headers)
    bot = await client.post(SERVER, json=form(tenant=None, external_id="site-10", city="Nowhere", website="x"),
                            headers=headers)
    assert bot.status_code == 200
    lead = await only(db, Lead)
    assert (lead.status, lead.city) == ("new", "Utrecht")


async def test_refused_submission_leaves_nothing_the_next_post_can_match(
        client: httpx.AsyncClient, db: Database, mrdj, intake_workflow) -> None:
    refused = await client.post(PUBLIC, json=form(email="not-an-email"), headers={"Idempotency-Key": "k-1"})
    assert refused.status_code == 422
    clean = await client.post(PUBLIC, json=form(), headers={"Idempotency-Key": "k-1"})
    assert clean.status_code == 201 and clean.json()["automation_triggered"] is True
    assert await count(db, Lead) == 1


async def test_rejected_captcha_does_not_poison_the_next_clean_submission(
        client: httpx.AsyncClient, db: Database, factory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_TEST_CAPTCHA_SECRET", SECRET)
    with siteverify_server() as (url, _posts):
        tenant = await captcha_tenant(factory, url)
        await install_workflow(db, tenant, workflow_doc("lead_intake"))
        headers = {"Idempotency-Key": "k-2"}
        rejected = await client.post(PUBLIC, json=form(captcha_token="bad-token"), headers=headers)
        clean = await client.post(PUBLIC, json=form(captcha_token=GOOD_TOKEN), headers=headers)
    assert (rejected.status_code, clean.status_code) == (400, 201), clean.text
    lead = await only(db, Lead)
    assert lead.status == "new" and [r.workflow_key for r in await runs_of(db, lead.id)] == ["lead_intake"]


async def test_rate_limited_submission_does_not_poison_the_next_one(client: httpx.AsyncClient, db: Database,
                                                                    factory, app) -> None:  # type: ignore[no-untyped-def]
    intake = {"rate_limit": {"default_profile": "strict",
                             "profiles": {"strict": {"per_ip": "1/5 minutes", "per_tenant": "100/minute"}}}}
    await factory.tenant("mrdj", **intake)
    first = await client.post(PUBLIC, json=form(email="someone@example.nl"))
    limited = await client.post(PUBLIC, json=form(), headers={"Idempotency-Key": "k-3"})
    assert (first.status_code, limited.status_code) == (201, 429)
    async with _other_client(app) as other:
        clean = await other.post(PUBLIC, json=form(), headers={"Idempotency-Key": "k-3"})
    assert clean.status_code == 201 and "Idempotent-Replayed" not in clean.headers
    assert await count(db, Lead) == 2


async def test_consent_a_bot_gave_before_is_dropped_when_the_person_posts(client: httpx.AsyncClient,
                                                                          db: Database, factory, mrdj) -> None:
    """A contact made by spam before spam stopped recording consent: the clean post does not inherit it."""
    contact = await factory.contact(mrdj, first_name="Bot", email="anna@example.nl", marketing_opt_in=True,
                                    consent={"marketing_opt_in": True, "source": "website_form"})
    await factory.lead(mrdj, contact, status="spam", flags=["spam"])
    assert (await client.post(PUBLIC, json=form())).json()["duplicate"] is False
    async with db.session() as session:
        row = (await session.execute(select(Contact.first_name, Contact.marketing_opt_in,
                                            Contact.consent.is_(None)))).one()
    assert tuple(row) == ("Anna", False, True)
