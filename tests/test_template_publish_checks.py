"""Publishing renders a template the way runs will: against samples with the real types (dates, Decimal money,
None for an empty optional field) and the tenant's recent leads and deals, and refuses what fails, naming the
part, line and data. Runs give templates values of exactly those types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from rentguy_crm.crm.variables import subject_variables
from rentguy_crm.templates.samples import sample_records

BASE = "/api/v1/templates"


async def publish(client: Any, headers: dict[str, str], text: str, variables: list[str],
                  key: str = "lead-welcome") -> Any:
    created = await client.post(BASE, headers=headers, json={
        "key": key, "channel": "email", "language": "nl", "subject": "Welkom", "text_body": text,
        "variables": variables})
    assert created.status_code == 201, created.text
    return await client.post(f"{BASE}/versions/{created.json()['id']}/publish", headers=headers)


async def test_slicing_a_date_like_a_string_is_refused_at_publish(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    response = await publish(client, ops, "Hoi,\nwe zien je in {{ lead.event_date[:4] }}", ["lead.event_date"])
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["field"], error["line"], error["data"]) == ("text_body", 2, "sample data")
    assert "datetime.date" in error["message"]
    listing = await client.get(BASE, headers=ops)
    assert [t["live_version"] for t in listing.json()] == [None]


@pytest.mark.parametrize(("text", "variables", "data"), [
    ("{{ deal.value * 1.21 }}", ["deal.value"], "sample data"),  # Decimal times float
    ("{{ lead.event_date.year }}", ["lead.event_date"], "sample data with every optional field empty"),
    ("{{ lead.guests + 10 }}", ["lead.guests"], "sample data with every optional field empty"),
])
async def test_what_fails_with_real_types_is_refused_naming_the_data(client, factory, text: str,
                                                                    variables: list[str], data: str) -> None:
    tenant = await factory.tenant()
    response = await publish(client, await factory.headers(tenant, "operations"), text, variables)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["data"] == data


@pytest.mark.parametrize(("text", "variables"), [
    ("{% if lead.event_date %}{{ lead.event_date.year }}{% endif %}", ["lead.event_date"]),
    ("{{ lead.event_date.strftime('%d-%m-%Y') if lead.event_date else 'nog te plannen' }}", ["lead.event_date"]),
    ("{% if deal.value is not none %}{{ deal.value * 2 }}{% endif %}", ["deal.value"]),
])
async def test_what_works_with_real_types_is_published(client, factory, text: str, variables: list[str]) -> None:
    tenant = await factory.tenant()
    response = await publish(client, await factory.headers(tenant, "operations"), text, variables)
    assert response.status_code == 200, response.text


async def test_a_recent_real_lead_that_would_fail_is_named(client, factory) -> None:
    tenant = await factory.tenant()
    await factory.lead(tenant, await factory.contact(tenant, email="anna@example.nl"), utm={"source": "google"})
    bare = await factory.lead(tenant, await factory.contact(tenant, email="tom@example.nl"), utm={})
    response = await publish(client, await factory.headers(tenant, "operations"), "Via {{ lead.utm.source }}",
                             ["lead.utm"])
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["data"] == f"lead #{bare.id}"


async def test_runs_give_templates_the_types_of_the_samples(db, factory) -> None:
    tenant = await factory.tenant()
    contact = await factory.contact(tenant, phone="+31612345678", company="De Vries Events", owner="sanne@mr-dj.nl")
    lead = await factory.lead(tenant, contact, event_date=dt.date(2027, 6, 12), budget=Decimal("2500.00"),
                              guests=120, venue="Kasteel", city="Utrecht", message="DJ", team="corporate",
                              owner="sanne@mr-dj.nl", external_id="web-1")
    deal = await factory.deal(tenant, contact, lead_id=lead.id, value=Decimal("1450.00"), owner="sanne@mr-dj.nl",
                              event_date=dt.date(2027, 6, 12), stage_changed_at=dt.datetime.now(dt.UTC))
    async with db.session() as session:
        real = await subject_variables(session, tenant, lead_id=None, deal_id=deal.id)
    sample = sample_records(empty=False)
    for record in ("lead", "deal", "contact"):
        assert set(real[record]) == set(sample[record]), record
        for name, value in sample[record].items():
            assert isinstance(real[record][name], type(value)), (record, name, real[record][name], value)
    assert isinstance(real["deal"]["value"], Decimal) and isinstance(real["lead"]["event_date"], dt.date)


async def test_preview_on_sample_data_uses_the_types_publishing_uses(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    created = await client.post(BASE, headers=ops, json={
        "key": "lead-welcome", "channel": "email", "subject": "Welkom", "text_body": "{{ lead.event_date[:4] }}",
        "variables": ["lead.event_date"]})
    preview = await client.post(f"{BASE}/versions/{created.json()['id']}/preview", json={}, headers=ops)
    assert preview.status_code == 422 and "datetime.date" in preview.json()["errors"][0]["message"]
    fine = await client.patch(f"{BASE}/versions/{created.json()['id']}", headers=ops,
                              json={"text_body": "{{ lead.event_date.strftime('%d-%m-%Y') }} {{ tenant.slug }}"})
    assert fine.status_code == 200
    preview = await client.post(f"{BASE}/versions/{created.json()['id']}/preview", json={}, headers=ops)
    assert preview.json()["text"] == "12-06-2027 mrdj"
