"""CRM API behaviour: contacts, leads, deals and activities, with their events and audit entries."""

from __future__ import annotations

from tests.table_counts import audit_entries, events_of, row_counts

CRM = "/api/v1/crm"


async def _setup(factory, role: str = "sales"):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    return tenant, await factory.headers(tenant, role)


# ---- contacts ----

async def test_created_contact_can_be_read_back(client, factory) -> None:
    _tenant, headers = await _setup(factory)
    created = await client.post(f"{CRM}/contacts", headers=headers,
                                json={"first_name": "Anna", "last_name": "de Vries", "email": "Anna@Example.nl"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "anna@example.nl"
    fetched = await client.get(f"{CRM}/contacts/{body['id']}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_a_contact_made_in_the_crm_and_a_public_lead_with_the_same_phone_share_one_contact(
    client, factory
) -> None:  # type: ignore[no-untyped-def]
    _tenant, headers = await _setup(factory)
    created = await client.post(f"{CRM}/contacts", headers=headers,
                                json={"first_name": "Piet", "last_name": "Jansen", "phone": "06 12345678"})
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "+31612345678"
    lead = await client.post("/api/v1/public/leads", json={"tenant": "mrdj", "first_name": "Piet",
                                                           "last_name": "Jansen", "phone": "+31 6 1234 5678"})
    assert lead.status_code == 201, lead.text
    assert (lead.json()["contact_id"], lead.json()["duplicate"]) == (created.json()["id"], True)


async def test_a_contact_with_an_impossible_phone_number_is_refused_naming_the_field(client, factory) -> None:
    _tenant, headers = await _setup(factory)
    answer = await client.post(f"{CRM}/contacts", headers=headers, json={"first_name": "X", "phone": "12"})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["phone"]


async def test_contact_creation_is_audited_with_the_after_state(client, factory, db) -> None:
    _tenant, headers = await _setup(factory)
    created = (await client.post(f"{CRM}/contacts", headers=headers, json={"first_name": "Anna"})).json()
    [entry] = await audit_entries(db, "contact.created")
    assert entry.entity_id == str(created["id"])
    assert entry.before is None
    assert entry.after["first_name"] == "Anna"
    assert entry.actor.startswith("apikey:")


async def test_patch_changes_only_the_fields_sent_and_audits_before_and_after(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant, first_name="Anna", phone="+31612345678")
    response = await client.patch(f"{CRM}/contacts/{contact.id}", headers=headers, json={"owner": "lisa@mr-dj.nl"})
    assert response.status_code == 200
    assert response.json()["owner"] == "lisa@mr-dj.nl"
    assert response.json()["phone"] == "+31612345678"
    [entry] = await audit_entries(db, "contact.updated")
    assert entry.before["owner"] is None
    assert entry.after["owner"] == "lisa@mr-dj.nl"


async def test_patch_that_changes_nothing_writes_no_audit_entry(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant, owner="lisa")
    response = await client.patch(f"{CRM}/contacts/{contact.id}", headers=headers, json={"owner": "lisa"})
    assert response.status_code == 200
    assert await audit_entries(db, "contact.updated") == []


async def test_second_contact_with_the_same_email_is_a_conflict(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    existing = await factory.contact(tenant, email="anna@example.nl")
    before = await row_counts(db)
    response = await client.post(f"{CRM}/contacts", headers=headers, json={"email": "ANNA@example.nl"})
    assert response.status_code == 409
    assert response.json()["existing_id"] == existing.id
    assert await row_counts(db) == before


async def test_null_for_a_required_column_is_refused(client, factory) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant)
    response = await client.patch(f"{CRM}/contacts/{contact.id}", headers=headers, json={"first_name": None})
    assert response.status_code == 422
    assert "first_name" in response.json()["detail"]


# ---- leads ----

async def test_staff_lead_for_a_known_contact_emits_lead_created_with_assignment(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant)
    response = await client.post(f"{CRM}/leads", headers=headers,
                                 json={"contact_id": contact.id, "event_type": "bruiloft", "guests": 120})
    assert response.status_code == 201, response.text
    lead = response.json()
    assert (lead["priority"], lead["team"], lead["source"]) == ("high", "wedding_specialists", "manual")
    [event] = await events_of(db, "lead.")
    assert (event.type, event.subject_type, event.subject_id) == ("lead.created", "lead", lead["id"])
    assert len(await audit_entries(db, "lead.created")) == 1


async def test_lead_for_an_unknown_contact_names_the_field(client, factory, db) -> None:
    _tenant, headers = await _setup(factory)
    before = await row_counts(db)
    response = await client.post(f"{CRM}/leads", headers=headers, json={"contact_id": 999})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "contact_id"
    assert await row_counts(db) == before


async def test_lead_status_change_emits_event_with_from_and_to(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    lead = await factory.lead(tenant)
    response = await client.patch(f"{CRM}/leads/{lead.id}", headers=headers, json={"status": "contacted"})
    assert response.status_code == 200
    assert response.json()["status"] == "contacted"
    [event] = await events_of(db, "lead.status_changed")
    assert event.payload["from"] == "new"
    assert event.payload["to"] == "contacted"
    assert event.subject_id == lead.id
    assert len(await audit_entries(db, "lead.updated")) == 1


async def test_lead_change_without_status_change_emits_only_lead_updated(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    lead = await factory.lead(tenant)
    response = await client.patch(f"{CRM}/leads/{lead.id}", headers=headers, json={"owner": "lisa", "status": "new"})
    assert response.status_code == 200
    assert await events_of(db, "lead.status_changed") == []
    [event] = await events_of(db, "lead.")
    assert (event.type, event.subject_id, event.payload["changed"]) == ("lead.updated", lead.id, ["owner"])


async def test_lead_patch_that_changes_nothing_emits_no_event(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    lead = await factory.lead(tenant, owner="lisa")
    response = await client.patch(f"{CRM}/leads/{lead.id}", headers=headers, json={"owner": "lisa", "status": "new"})
    assert response.status_code == 200
    assert await events_of(db, "lead.") == []


# ---- deals ----

async def test_deal_without_stage_starts_in_the_pipelines_first_stage(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant)
    response = await client.post(f"{CRM}/deals", headers=headers,
                                 json={"contact_id": contact.id, "pipeline": "corporate", "title": "Kerstborrel",
                                       "value": "1800.50"})
    assert response.status_code == 201, response.text
    deal = response.json()
    assert (deal["pipeline"], deal["stage"], deal["status"]) == ("corporate", "new", "open")
    assert deal["value"] == "1800.50"
    assert len(await audit_entries(db, "deal.created")) == 1


async def test_deal_with_unknown_stage_key_names_the_stage_field(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant)
    before = await row_counts(db)
    response = await client.post(f"{CRM}/deals", headers=headers,
                                 json={"contact_id": contact.id, "pipeline": "festival", "stage": "qualified",
                                       "title": "Festival"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "stage"
    assert await row_counts(db) == before


async def test_advancing_a_stage_emits_changed_and_stage_specific_events(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    deal = await factory.deal(tenant, stage_key="qualified")
    response = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "proposal_sent"})
    assert response.status_code == 200, response.text
    assert response.json()["stage"] == "proposal_sent"
    events = await events_of(db, "deal.stage.")
    assert [e.type for e in events] == ["deal.stage.changed", "deal.stage.proposal_sent"]
    for event in events:
        assert event.payload["from"] == "qualified"
        assert event.payload["to"] == "proposal_sent"
        assert event.payload["pipeline"] == "wedding"
        assert (event.subject_type, event.subject_id) == ("deal", deal.id)
    [entry] = await audit_entries(db, "deal.stage_changed")
    assert entry.before["stage_id"] != entry.after["stage_id"]


async def test_a_won_stage_sets_the_deal_won_and_an_open_stage_reopens_it(client, factory) -> None:
    tenant, headers = await _setup(factory)
    deal = await factory.deal(tenant, stage_key="negotiation")
    won = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "booked"})
    assert won.json()["status"] == "won"
    lost = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "lost"})
    assert lost.json()["status"] == "lost"
    reopened = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "negotiation"})
    assert reopened.json()["status"] == "open"


async def test_moving_to_the_current_stage_changes_nothing(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    deal = await factory.deal(tenant, stage_key="qualified")
    before = await row_counts(db)
    response = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "qualified"})
    assert response.status_code == 200
    assert await row_counts(db) == before


async def test_moving_to_a_stage_of_another_pipeline_is_refused(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    deal = await factory.deal(tenant, pipeline_key="festival", stage_key="new")
    before = await row_counts(db)
    response = await client.post(f"{CRM}/deals/{deal.id}/stage", headers=headers, json={"stage": "qualified"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "stage"
    assert await row_counts(db) == before
    assert (await client.get(f"{CRM}/deals/{deal.id}", headers=headers)).json()["stage"] == "new"


async def test_deal_patch_changes_fields_but_not_the_stage(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    deal = await factory.deal(tenant)
    response = await client.patch(f"{CRM}/deals/{deal.id}", headers=headers, json={"value": 2750, "owner": "lisa"})
    assert response.status_code == 200
    assert response.json()["value"] == "2750.00"
    refused = await client.patch(f"{CRM}/deals/{deal.id}", headers=headers, json={"stage": "booked"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "stage"
    assert len(await audit_entries(db, "deal.updated")) == 1


# ---- activities ----

async def test_task_on_a_deal_can_be_completed(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    deal = await factory.deal(tenant)
    created = await client.post(f"{CRM}/activities", headers=headers,
                                json={"kind": "task", "title": "Bel terug", "deal_id": deal.id,
                                      "due_at": "2026-03-02T10:00:00+01:00", "owner": "lisa"})
    assert created.status_code == 201, created.text
    task = created.json()
    assert task["status"] == "open"
    assert task["due_at"].startswith("2026-03-02T09:00:00")
    done = await client.post(f"{CRM}/activities/{task['id']}/complete", headers=headers)
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["completed_at"] is not None
    assert [e.action for e in await audit_entries(db) if e.entity_type == "activity"] == [
        "activity.created", "activity.completed"]


async def test_a_note_cannot_be_completed(client, factory) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant)
    note = await factory.activity(tenant, kind="note", contact_id=contact.id)
    response = await client.post(f"{CRM}/activities/{note.id}/complete", headers=headers)
    assert response.status_code == 409


async def test_activity_without_any_link_is_refused(client, factory, db) -> None:
    _tenant, headers = await _setup(factory)
    before = await row_counts(db)
    response = await client.post(f"{CRM}/activities", headers=headers, json={"title": "Losse notitie"})
    assert response.status_code == 422
    assert await row_counts(db) == before


async def test_reopening_a_done_task_clears_its_completion_time(client, factory) -> None:
    tenant, headers = await _setup(factory)
    contact = await factory.contact(tenant)
    task = await factory.activity(tenant, kind="task", contact_id=contact.id)
    await client.post(f"{CRM}/activities/{task.id}/complete", headers=headers)
    reopened = await client.patch(f"{CRM}/activities/{task.id}", headers=headers, json={"status": "open"})
    assert reopened.json()["status"] == "open"
    assert reopened.json()["completed_at"] is None


async def test_deal_from_a_lead_takes_the_leads_contact(client, factory) -> None:
    tenant, headers = await _setup(factory)
    lead = await factory.lead(tenant)
    response = await client.post(f"{CRM}/deals", headers=headers,
                                 json={"lead_id": lead.id, "pipeline": "wedding", "title": "Bruiloft"})
    assert response.status_code == 201, response.text
    assert (response.json()["contact_id"], response.json()["lead_id"]) == (lead.contact_id, lead.id)


async def test_deal_for_a_lead_of_another_contact_is_refused(client, factory, db) -> None:
    tenant, headers = await _setup(factory)
    lead = await factory.lead(tenant, await factory.contact(tenant, email="one@example.nl"))
    other = await factory.contact(tenant, email="two@example.nl")
    before = await row_counts(db)
    response = await client.post(f"{CRM}/deals", headers=headers, json={
        "contact_id": other.id, "lead_id": lead.id, "pipeline": "wedding", "title": "Bruiloft"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lead_id"
    assert await row_counts(db) == before
