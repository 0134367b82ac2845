"""The intake pipeline through the public and server routes: normalise, dedupe, assign, emit, consent."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from rentguy_crm.crm.contact_details import normalise_phone
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event

PUBLIC = "/api/v1/public/leads"


def form(**values: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"tenant": "mrdj", "first_name": "Anna", "last_name": "de Vries",
                            "email": "anna@example.nl", "event_type": "bruiloft"}
    body.update(values)
    return {k: v for k, v in body.items() if v is not None}


async def count(db: Database, model: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def only(db: Database, model: Any) -> Any:
    async with db.session() as session:
        return (await session.scalars(select(model))).one()


def test_dutch_mobile_number_becomes_e164() -> None:
    assert normalise_phone("06 12345678") == "+31612345678"
    assert normalise_phone("+31 (0)20 123 4567".replace("(0)", "")) == "+31201234567"


async def test_public_lead_is_created_with_normalised_fields(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(email="  Anna@Example.NL ", phone="06 12345678",
                                                   first_name="  Anna "))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["duplicate"] is False and body["status"] == "new" and body["automation_triggered"] is False
    contact = await only(db, Contact)
    assert (contact.email, contact.phone, contact.first_name) == ("anna@example.nl", "+31612345678", "Anna")
    assert body["contact_id"] == contact.id


async def test_lead_created_event_is_emitted_with_the_lead(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    lead_id = (await client.post(PUBLIC, json=form())).json()["lead_id"]
    event = await only(db, Event)
    assert (event.type, event.subject_id, event.payload["pipeline"]) == ("lead.created", lead_id, "wedding")


async def test_alias_reaches_the_same_tenant(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(tenant="mr-dj"))
    assert response.status_code == 201
    assert (await only(db, Lead)).tenant_id == mrdj.id


async def test_unknown_tenant_answers_404_naming_it(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(tenant="nobody"))
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]
    assert await count(db, Lead) == 0


async def test_assignment_follows_event_type_rules(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    expected = {"bruiloft": ("high", "wedding_specialists"), "bedrijfsfeest": ("medium", "corporate"),
                "verjaardag": ("normal", "general"), "feest": ("normal", "general"), "anders": ("normal", "general")}
    for n, event_type in enumerate(expected):
        response = await client.post(PUBLIC, json=form(event_type=event_type, email=f"p{n}@example.nl"))
        assert response.status_code == 201, response.text
    async with db.session() as session:
        leads = (await session.scalars(select(Lead))).all()
    assert {lead.event_type: (lead.priority, lead.team) for lead in leads} == expected


async def test_known_contact_gets_new_lead_marked_duplicate(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    first = (await client.post(PUBLIC, json=form(message="eerste"))).json()
    second = (await client.post(PUBLIC, json=form(email="ANNA@example.nl", message="tweede"))).json()
    assert second["duplicate"] is True and second["contact_id"] == first["contact_id"]
    assert second["lead_id"] != first["lead_id"]
    assert await count(db, Contact) == 1


async def test_phone_only_contacts_dedupe_on_phone(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    first = (await client.post(PUBLIC, json=form(email=None, phone="06 12345678"))).json()
    second = (await client.post(PUBLIC, json=form(email=None, phone="+31612345678", message="x"))).json()
    assert second["contact_id"] == first["contact_id"] and second["duplicate"] is True


async def test_double_click_returns_the_first_lead(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    first = await client.post(PUBLIC, json=form(message="dubbel"))
    second = await client.post(PUBLIC, json=form(message="dubbel"))
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["lead_id"] == first.json()["lead_id"]
    assert await count(db, Lead) == 1


async def test_consent_is_stored_with_provenance(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(marketing_opt_in=True, consent_text_version="v3"),
                                 headers={"User-Agent": "Firefox/140"})
    assert response.status_code == 201
    contact = await only(db, Contact)
    assert contact.marketing_opt_in is True
    assert contact.consent["text_version"] == "v3"
    assert contact.consent["ip"] == "203.0.113.10"
    assert contact.consent["user_agent"] == "Firefox/140"
    assert contact.consent["at"]


async def test_utm_fields_are_kept(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    await client.post(PUBLIC, json=form(utm_source="google", utm_campaign="zomer"))
    assert (await only(db, Lead)).utm == {"source": "google", "campaign": "zomer"}


async def test_name_and_contact_route_are_required(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json={"tenant": "mrdj", "event_type": "feest"})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"email", "first_name"}
    assert await count(db, Contact) == 0


async def test_server_route_needs_an_api_key(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.post("/api/v1/leads", json=form(tenant=None))
    assert response.status_code == 401


async def test_server_route_needs_leads_submit_permission(client: httpx.AsyncClient, factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "support")
    response = await client.post("/api/v1/leads", json=form(tenant=None), headers=headers)
    assert response.status_code == 403


async def test_server_route_external_id_updates_instead_of_duplicating(
        client: httpx.AsyncClient, db: Database, factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    first = await client.post("/api/v1/leads", json=form(tenant=None, external_id="mrdj-contact-12", guests=80),
                              headers=headers)
    again = await client.post("/api/v1/leads", json=form(tenant=None, external_id="mrdj-contact-12", guests=120),
                              headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["lead_id"] == first.json()["lead_id"]
    lead = await only(db, Lead)
    assert lead.guests == 120 and lead.external_id == "mrdj-contact-12"


async def test_server_route_refuses_another_tenant_in_body(client: httpx.AsyncClient, db: Database, factory,
                                                           mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    response = await client.post("/api/v1/leads", json=form(tenant="other"), headers=headers)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "tenant"
    assert await count(db, Lead) == 0


async def test_automation_triggered_reflects_runs_created_with_the_event(
        client: httpx.AsyncClient, db: Database, mrdj) -> None:
    from rentguy_crm.automation.runs.models import AutomationRun
    from tests.automation_support import install_workflow, workflow_doc

    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    body = (await client.post(PUBLIC, json=form())).json()
    assert body["automation_triggered"] is True
    async with db.session() as session:
        run = (await session.scalars(select(AutomationRun))).one()
        event = (await session.scalars(select(Event))).one()
    assert (run.lead_id, run.trigger_event_id, run.workflow_key, run.status) == (
        body["lead_id"], event.id, "lead_intake", "queued")
    assert event.payload["lead_id"] == body["lead_id"] and event.payload["contact_id"] == body["contact_id"]


async def test_no_matching_workflow_answers_automation_not_triggered(
        client: httpx.AsyncClient, db: Database, mrdj) -> None:
    from tests.automation_support import install_workflow, workflow_doc

    await install_workflow(db, mrdj, workflow_doc("proposal_followup", triggers=[{"event": "deal.created"}]))
    body = (await client.post(PUBLIC, json=form())).json()
    assert body["automation_triggered"] is False
    assert await count(db, Event) == 1


async def test_trigger_condition_on_the_lead_decides_whether_a_run_starts(
        client: httpx.AsyncClient, db: Database, mrdj) -> None:
    from rentguy_crm.automation.runs.models import AutomationRun
    from tests.automation_support import install_workflow, workflow_doc

    await install_workflow(db, mrdj, workflow_doc(
        "lead_intake", triggers=[{"event": "lead.created", "condition": "lead.event_type == 'bruiloft'"}]))
    wedding = (await client.post(PUBLIC, json=form(event_type="bruiloft"))).json()
    party = (await client.post(PUBLIC, json=form(email="b@example.nl", event_type="feest"))).json()
    assert (wedding["automation_triggered"], party["automation_triggered"]) == (True, False)
    async with db.session() as session:
        runs = (await session.scalars(select(AutomationRun))).all()
    assert [r.lead_id for r in runs] == [wedding["lead_id"]]


async def test_spam_from_a_new_person_starts_no_run_and_emits_no_event(
        client: httpx.AsyncClient, db: Database, mrdj) -> None:
    from rentguy_crm.automation.runs.models import AutomationRun
    from tests.automation_support import install_workflow, workflow_doc

    await install_workflow(db, mrdj, workflow_doc("lead_intake"))
    body = (await client.post(PUBLIC, json=form(website="http://spam.example"))).json()
    assert body["automation_triggered"] is False and body["status"] == "new"
    assert (await count(db, Event), await count(db, AutomationRun), await count(db, Lead)) == (0, 0, 1)


async def test_new_contact_without_opt_in_has_no_consent_record(client: httpx.AsyncClient, db: Database,
                                                                  mrdj) -> None:
    await client.post(PUBLIC, json=form(marketing_opt_in=False))
    async with db.session() as session:
        contact = (await session.scalars(select(Contact))).one()
        is_null = await session.scalar(select(Contact.consent.is_(None)))
    assert contact.marketing_opt_in is False and contact.consent is None and is_null


async def test_outcomes_are_counted_in_prometheus(client: httpx.AsyncClient, mrdj) -> None:
    from prometheus_client import REGISTRY

    def value(outcome: str) -> float:
        labels = {"tenant": "mrdj", "route": "public", "outcome": outcome}
        return REGISTRY.get_sample_value("crm_lead_capture_requests_total", labels) or 0.0

    before = {o: value(o) for o in ("created", "duplicate", "rejected", "spam")}
    await client.post(PUBLIC, json=form())
    await client.post(PUBLIC, json=form(message="again"))
    await client.post(PUBLIC, json=form(email="nope"))
    await client.post(PUBLIC, json=form(email="bot@example.nl", website="x"))
    assert {o: value(o) - before[o] for o in before} == {"created": 1, "duplicate": 1, "rejected": 1, "spam": 1}
