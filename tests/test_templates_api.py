"""The /api/v1/templates routes: roles, tenancy, the draft → publish flow, previews and bad input."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from rentguy_crm.templates.models import Template, TemplateVersion

BASE = "/api/v1/templates"
DRAFT: dict[str, Any] = {
    "key": "lead-welcome", "channel": "email", "language": "nl", "subject": "Welkom {{ contact.first_name }}",
    "text_body": "Hoi {{ contact.first_name }}", "html_body": "<p>Hoi {{ contact.first_name }}</p>",
    "variables": ["contact.first_name", "lead.event_type"],
}


async def counts(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return (await session.scalar(select(func.count()).select_from(Template)) or 0,
                await session.scalar(select(func.count()).select_from(TemplateVersion)) or 0)


async def test_operations_creates_previews_and_publishes_a_draft(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    created = await client.post(BASE, json=DRAFT, headers=ops)
    assert created.status_code == 201, created.text
    version_id = created.json()["id"]
    preview = await client.post(f"{BASE}/versions/{version_id}/preview", json={}, headers=ops)
    assert preview.json()["subject"] == "Welkom Anna"  # the sample record, with the types a run gives
    published = await client.post(f"{BASE}/versions/{version_id}/publish", headers=ops)
    assert published.status_code == 200 and published.json()["status"] == "live"
    listing = await client.get(BASE, headers=ops)
    assert [(t["key"], t["live_version"]) for t in listing.json()] == [("lead-welcome", 1)]


async def test_sales_reads_but_cannot_publish(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    sales = await factory.headers(tenant, "sales")
    version_id = (await client.post(BASE, json=DRAFT, headers=ops)).json()["id"]
    assert (await client.get(BASE, headers=sales)).status_code == 200
    refused = await client.post(f"{BASE}/versions/{version_id}/publish", headers=sales)
    assert refused.status_code == 403
    assert "templates:write" in refused.json()["detail"]
    assert (await client.post(BASE, json=DRAFT, headers=sales)).status_code == 403


async def test_another_tenants_template_is_not_found(client, factory) -> None:
    mrdj = await factory.tenant("mrdj")
    other = await factory.tenant("other")
    version_id = (await client.post(BASE, json=DRAFT, headers=await factory.headers(mrdj, "operations"))).json()["id"]
    foreign = await factory.headers(other, "operations")
    assert (await client.post(f"{BASE}/versions/{version_id}/publish", headers=foreign)).status_code == 404
    assert (await client.get(BASE, headers=foreign)).json() == []


async def test_publishing_an_undeclared_variable_is_a_422_naming_it(client, factory, db) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    body = {**DRAFT, "text_body": "Hoi {{ contact.first_name }}\n{{ contact.iban }}"}
    version_id = (await client.post(BASE, json=body, headers=ops)).json()["id"]
    response = await client.post(f"{BASE}/versions/{version_id}/publish", headers=ops)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "contact.iban" in response.json()["detail"] and "text_body line 2" in response.json()["detail"]
    detail = (await client.get(f"{BASE}/{(await client.get(BASE, headers=ops)).json()[0]['id']}", headers=ops)).json()
    assert [v["status"] for v in detail["versions"]] == ["draft"]


async def test_sandbox_escape_is_refused_at_publish(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    body = {**DRAFT, "html_body": "<p>{{ cycler.__init__.__globals__ }}</p>"}
    version_id = (await client.post(BASE, json=body, headers=ops)).json()["id"]
    response = await client.post(f"{BASE}/versions/{version_id}/publish", headers=ops)
    assert response.status_code == 422
    assert "__globals__" in response.json()["detail"]


async def test_bad_input_is_a_4xx_problem_and_changes_nothing(client, factory, db) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    before = await counts(db)
    for body, field in [({**DRAFT, "channel": "fax"}, "channel"), ({**DRAFT, "key": "Bad Key"}, "key"),
                        ({**DRAFT, "variables": ["contact.__class__"]}, "variables"),
                        ({**DRAFT, "text_body": "{% if %}"}, "text_body"),
                        ({**DRAFT, "subject": None}, "subject"),
                        ({**DRAFT, "surprise": 1}, "surprise")]:
        response = await client.post(BASE, json=body, headers=ops)
        assert 400 <= response.status_code < 500, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text
    assert await counts(db) == before


async def test_editing_live_makes_a_draft_and_diff_shows_the_change(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    version_id = (await client.post(BASE, json=DRAFT, headers=ops)).json()["id"]
    await client.post(f"{BASE}/versions/{version_id}/publish", headers=ops)
    edited = await client.patch(f"{BASE}/versions/{version_id}", json={"text_body": "Hallo {{ contact.first_name }}"},
                                headers=ops)
    assert edited.status_code == 200 and edited.json()["version"] == 2 and edited.json()["status"] == "draft"
    template_id = (await client.get(BASE, headers=ops)).json()[0]["id"]
    diff = (await client.get(f"{BASE}/{template_id}/diff", headers=ops)).json()
    assert diff["changed"] and "-Hoi {{ contact.first_name }}" in diff["diff"]
    assert "+Hallo {{ contact.first_name }}" in diff["diff"]


async def test_preview_with_a_real_lead(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    contact = await factory.contact(tenant, first_name="Sanne")
    lead = await factory.lead(tenant, contact)
    version_id = (await client.post(BASE, json=DRAFT, headers=ops)).json()["id"]
    response = await client.post(f"{BASE}/versions/{version_id}/preview", json={"lead_id": lead.id}, headers=ops)
    assert response.json()["text"] == "Hoi Sanne" and response.json()["data"] == "real"
    missing = await client.post(f"{BASE}/versions/{version_id}/preview", json={"lead_id": 999999}, headers=ops)
    assert missing.status_code == 404


async def test_clone_route_dry_run_plans_without_writing(client, factory, db) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    response = await client.post(f"{BASE}/clone", json={"dry_run": True, "only": ["ops-alert"]}, headers=ops)
    assert response.status_code == 200
    assert [r["action"] for r in response.json()["rows"]] == ["create", "create"]
    assert await counts(db) == (0, 0)
    unknown = await client.post(f"{BASE}/clone", json={"only": ["nope"]}, headers=ops)
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"]
    assert unknown.json()["errors"][0]["field"] == "only"


async def test_bad_edits_are_4xx_and_leave_the_draft_alone(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    created = (await client.post(BASE, json=DRAFT, headers=ops)).json()
    url = f"{BASE}/versions/{created['id']}"
    for body, status in [({}, 400), ({"text_body": ""}, 422), ({"colour": "red"}, 422),
                         ({"html_body": "{% for %}"}, 422), ({"variables": ["Bad Name"]}, 422)]:
        response = await client.patch(url, json=body, headers=ops)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.patch(f"{BASE}/versions/999999", json={"subject": "x"}, headers=ops)).status_code == 404
    template_id = (await client.get(BASE, headers=ops)).json()[0]["id"]
    [version] = (await client.get(f"{BASE}/{template_id}", headers=ops)).json()["versions"]
    assert (version["text_body"], version["checksum"]) == (DRAFT["text_body"], created["checksum"])


async def test_whatsapp_template_needs_its_approved_name(client, factory) -> None:
    tenant = await factory.tenant()
    ops = await factory.headers(tenant, "operations")
    body = {"key": "proposal-reminder-whatsapp", "channel": "whatsapp", "text_body": "Hoi {{ contact.first_name }}",
            "variables": ["contact.first_name"]}
    missing = await client.post(BASE, json=body, headers=ops)
    assert missing.status_code == 422 and "whatsapp" in missing.json()["detail"]
    body["whatsapp"] = {"name": "proposal_reminder", "language": "nl", "parameters": ["{{ contact.first_name }}"]}
    created = await client.post(BASE, json=body, headers=ops)
    assert created.status_code == 201
    preview = await client.post(f"{BASE}/versions/{created.json()['id']}/preview", json={}, headers=ops)
    assert preview.json()["whatsapp_parameters"] == ["Anna"]
