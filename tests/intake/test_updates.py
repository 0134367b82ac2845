"""Re-posts by `external_id` and re-submissions by a known person change only what they send."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event
from tests.intake.test_pipeline import PUBLIC, count, form, only

SERVER = "/api/v1/leads"
FULL = {"external_id": "site-42", "first_name": "Anna", "last_name": "de Vries", "email": "anna@example.nl",
        "phone": "06 12345678", "event_type": "bruiloft", "event_date": "2027-06-12", "guests": 100,
        "venue": "Kasteel de Haar", "city": "Utrecht", "budget": "2500.00", "message": "Graag een offerte.",
        "utm_source": "google", "utm_campaign": "voorjaar"}


@pytest.fixture
async def server(factory, mrdj) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return await factory.headers(mrdj, "sales")


async def events_of(db: Database, kind: str) -> list[Event]:
    async with db.session() as session:
        return list((await session.scalars(select(Event).where(Event.type == kind))).all())


async def test_repost_with_only_guests_changes_only_guests(client: httpx.AsyncClient, db: Database,
                                                          server: dict[str, str]) -> None:
    created = await client.post(SERVER, json=FULL, headers=server)
    assert created.status_code == 201, created.text
    update = await client.post(SERVER, json={"external_id": "site-42", "guests": 150}, headers=server)
    assert update.status_code == 200, update.text
    assert update.json()["lead_id"] == created.json()["lead_id"]
    lead, contact = await only(db, Lead), await only(db, Contact)
    assert lead.guests == 150
    assert (lead.event_type, lead.event_date, lead.city, lead.venue, lead.budget, lead.message) == (
        "bruiloft", dt.date(2027, 6, 12), "Utrecht", "Kasteel de Haar", Decimal("2500.00"), "Graag een offerte.")
    assert (lead.priority, lead.team, lead.source) == ("high", "wedding_specialists", "website_form")
    assert lead.utm == {"source": "google", "campaign": "voorjaar"}
    assert (contact.first_name, contact.last_name, contact.phone) == ("Anna", "de Vries", "+31612345678")
    [updated] = await events_of(db, "lead.updated")
    assert updated.payload["changed"] == ["guests"]


async def test_repost_with_the_person_and_only_guests_keeps_the_other_lead_fields(
        client: httpx.AsyncClient, db: Database, server: dict[str, str]) -> None:
    await client.post(SERVER, json=FULL, headers=server)
    body = {"external_id": "site-42", "first_name": "Anna", "email": "anna@example.nl", "guests": 150}
    assert (await client.post(SERVER, json=body, headers=server)).status_code == 200
    lead, contact = await only(db, Lead), await only(db, Contact)
    assert (lead.guests, lead.event_type, lead.event_date, lead.city, lead.budget, lead.message) == (
        150, "bruiloft", dt.date(2027, 6, 12), "Utrecht", Decimal("2500.00"), "Graag een offerte.")
    assert (lead.priority, lead.team) == ("high", "wedding_specialists")
    assert (contact.last_name, contact.phone) == ("de Vries", "+31612345678")


async def test_repost_with_a_new_event_type_moves_priority_and_team(client: httpx.AsyncClient, db: Database,
                                                                    server: dict[str, str]) -> None:
    await client.post(SERVER, json=FULL, headers=server)
    await client.post(SERVER, json={"external_id": "site-42", "event_type": "bedrijfsfeest"}, headers=server)
    lead = await only(db, Lead)
    assert (lead.event_type, lead.priority, lead.team, lead.city) == ("bedrijfsfeest", "medium", "corporate",
                                                                      "Utrecht")


async def test_repost_keeps_priority_and_team_staff_chose(client: httpx.AsyncClient, db: Database,
                                                          server: dict[str, str], factory, mrdj) -> None:
    lead_id = (await client.post(SERVER, json=FULL, headers=server)).json()["lead_id"]
    staff = await factory.headers(mrdj, "sales")
    await client.patch(f"/api/v1/crm/leads/{lead_id}", json={"priority": "low"}, headers=staff)
    await client.post(SERVER, json={"external_id": "site-42", "guests": 80}, headers=server)
    await client.post(SERVER, json={"external_id": "site-42", "event_type": "feest"}, headers=server)
    lead = await only(db, Lead)
    assert (lead.priority, lead.team) == ("low", "general")  # staff's priority stays; the team follows


async def test_repost_sending_null_clears_that_field_only(client: httpx.AsyncClient, db: Database,
                                                         server: dict[str, str]) -> None:
    await client.post(SERVER, json=FULL, headers=server)
    await client.post(SERVER, json={"external_id": "site-42", "city": None, "utm_campaign": None}, headers=server)
    lead = await only(db, Lead)
    assert (lead.city, lead.venue, lead.utm) == (None, "Kasteel de Haar", {"source": "google"})


async def test_identical_repost_emits_no_update(client: httpx.AsyncClient, db: Database,
                                               server: dict[str, str]) -> None:
    await client.post(SERVER, json=FULL, headers=server)
    again = await client.post(SERVER, json=FULL, headers=server)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert await events_of(db, "lead.updated") == []


async def test_repost_with_a_new_name_fills_only_what_the_contact_lacks(client: httpx.AsyncClient, db: Database,
                                                                        server: dict[str, str]) -> None:
    await client.post(SERVER, json={k: v for k, v in FULL.items() if k != "last_name"}, headers=server)
    await client.post(SERVER, json={"external_id": "site-42", "first_name": "Hanna", "last_name": "Jansen"},
                      headers=server)
    contact = await only(db, Contact)
    assert (contact.first_name, contact.last_name, contact.email) == ("Anna", "Jansen", "anna@example.nl")


async def test_new_external_id_still_needs_a_name_and_an_address(client: httpx.AsyncClient, db: Database,
                                                                server: dict[str, str]) -> None:
    response = await client.post(SERVER, json={"external_id": "site-43", "guests": 10}, headers=server)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"email", "first_name"}
    assert await count(db, Lead) == 0


async def test_known_person_submitting_again_keeps_phone_and_name(client: httpx.AsyncClient, db: Database,
                                                                  mrdj) -> None:
    await client.post(PUBLIC, json=form(first_name="Anna", last_name="de Vries", phone="06 12345678"))
    again = await client.post(PUBLIC, json=form(first_name=None, last_name="Vries", message="tweede"))
    assert again.status_code == 201 and again.json()["duplicate"] is True
    contact = await only(db, Contact)
    assert (contact.first_name, contact.last_name, contact.phone) == ("Anna", "de Vries", "+31612345678")


async def test_crm_patch_of_the_event_type_moves_priority_and_team(client: httpx.AsyncClient, db: Database,
                                                                   factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    contact = await factory.contact(mrdj)
    lead = (await client.post("/api/v1/crm/leads", json={"contact_id": contact.id, "event_type": "feest",
                                                          "city": "Utrecht"}, headers=headers)).json()
    assert (lead["priority"], lead["team"]) == ("normal", "general")
    moved = (await client.patch(f"/api/v1/crm/leads/{lead['id']}", json={"event_type": "bruiloft"},
                                headers=headers)).json()
    assert (moved["priority"], moved["team"], moved["city"]) == ("high", "wedding_specialists", "Utrecht")


async def test_crm_patch_with_event_type_and_priority_keeps_the_priority_sent(client: httpx.AsyncClient,
                                                                              db: Database, factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    contact = await factory.contact(mrdj)
    lead = (await client.post("/api/v1/crm/leads", json={"contact_id": contact.id, "event_type": "feest"},
                              headers=headers)).json()
    moved = (await client.patch(f"/api/v1/crm/leads/{lead['id']}", json={"event_type": "bruiloft",
                                                                          "priority": "low"},
                                headers=headers)).json()
    assert (moved["priority"], moved["team"]) == ("low", "wedding_specialists")


async def test_crm_patch_without_event_type_leaves_assignment_alone(client: httpx.AsyncClient, db: Database,
                                                                    factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    contact = await factory.contact(mrdj)
    lead = (await client.post("/api/v1/crm/leads", json={"contact_id": contact.id, "event_type": "bruiloft",
                                                          "team": "corporate"}, headers=headers)).json()
    patched = (await client.patch(f"/api/v1/crm/leads/{lead['id']}", json={"guests": 40},
                                  headers=headers)).json()
    assert (patched["priority"], patched["team"], patched["event_type"]) == ("high", "corporate", "bruiloft")
