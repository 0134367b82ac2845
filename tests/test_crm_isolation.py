"""Tenant isolation: tenant B's key or signed-in session never reads or changes tenant A's records, on every CRM
route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.table_counts import row_counts

CRM = "/api/v1/crm"


@dataclass
class World:
    a: dict[str, int]
    b: dict[str, int]
    a_headers: dict[str, str]
    b_headers: dict[str, str]


@pytest.fixture(params=["key", "session"])
async def world(factory, request) -> World:  # type: ignore[no-untyped-def]
    ids: dict[str, dict[str, int]] = {}
    headers: dict[str, dict[str, str]] = {}
    for slug in ("mrdj", "other"):
        tenant = await factory.tenant(slug)
        contact = await factory.contact(tenant, email=f"anna@{slug}.example")
        lead = await factory.lead(tenant, contact)
        deal = await factory.deal(tenant, contact, lead_id=lead.id)
        task = await factory.activity(tenant, kind="task", deal_id=deal.id)
        ids[slug] = {"contact": contact.id, "lead": lead.id, "deal": deal.id, "activity": task.id}
        headers[slug] = await factory.credentials(request.param, tenant, "admin")
    return World(a=ids["mrdj"], b=ids["other"], a_headers=headers["mrdj"], b_headers=headers["other"])


# (method, route template, path filler, body maker): every CRM route that addresses one of A's records.
RECORD_ROUTES: list[tuple[str, str, str, Any]] = [
    ("GET", "/contacts/{contact_id}", "contact", None),
    ("PATCH", "/contacts/{contact_id}", "contact", lambda w: {"first_name": "Hacked", "owner": "mallory"}),
    ("GET", "/leads/{lead_id}", "lead", None),
    ("PATCH", "/leads/{lead_id}", "lead", lambda w: {"status": "spam", "owner": "mallory"}),
    ("GET", "/deals/{deal_id}", "deal", None),
    ("PATCH", "/deals/{deal_id}", "deal", lambda w: {"title": "Hacked", "value": 1}),
    ("POST", "/deals/{deal_id}/stage", "deal", lambda w: {"stage": "lost"}),
    ("GET", "/activities/{activity_id}", "activity", None),
    ("PATCH", "/activities/{activity_id}", "activity", lambda w: {"title": "Hacked", "status": "cancelled"}),
    ("POST", "/activities/{activity_id}/complete", "activity", None),
    ("POST", "/contacts/{contact_id}/merge", "contact", lambda w: {"other_id": w.b["contact"], "reason": "dup"}),
    ("POST", "/leads/{lead_id}/spam", "lead", None),
    ("POST", "/leads/{lead_id}/not-spam", "lead", None),
]

# Creates that name one of A's records in the body: refused without saying whether the record exists.
REFERENCING_CREATES: list[tuple[str, Any, str]] = [
    ("/leads", lambda w: {"contact_id": w.a["contact"]}, "contact_id"),
    ("/deals", lambda w: {"contact_id": w.a["contact"], "pipeline": "wedding", "title": "x"}, "contact_id"),
    ("/deals", lambda w: {"contact_id": w.b["contact"], "lead_id": w.a["lead"], "pipeline": "wedding",
                          "title": "x"}, "lead_id"),
    ("/activities", lambda w: {"title": "x", "contact_id": w.a["contact"]}, "contact_id"),
    ("/activities", lambda w: {"title": "x", "lead_id": w.a["lead"]}, "lead_id"),
    ("/activities", lambda w: {"title": "x", "deal_id": w.a["deal"]}, "deal_id"),
]

LIST_ROUTES = ["/contacts", "/leads", "/deals", "/activities"]
EXPORT_ROUTES = ["/contacts/export.csv", "/leads/export.csv"]


async def _a_records(client, w: World) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    out = {}
    for kind, plural in (("contact", "contacts"), ("lead", "leads"), ("deal", "deals"), ("activity", "activities")):
        response = await client.get(f"{CRM}/{plural}/{w.a[kind]}", headers=w.a_headers)
        assert response.status_code == 200
        out[kind] = response.json()
    return out


def test_the_tables_cover_every_crm_route(app) -> None:
    covered = {(m, CRM + p) for m, p, _k, _b in RECORD_ROUTES}
    covered |= {("GET", CRM + p) for p in [*LIST_ROUTES, "/pipelines"]}
    covered |= {("POST", CRM + p) for p, _b, _f in REFERENCING_CREATES} | {("POST", CRM + "/contacts")}
    covered |= {("GET", CRM + p) for p in EXPORT_ROUTES} | {("POST", CRM + "/import/{kind}")}
    # From the OpenAPI document: routers are included lazily, so app.routes does not list their routes.
    routes = {(m.upper(), path) for path, operations in app.openapi()["paths"].items() if path.startswith(CRM)
              for m in operations}
    assert len(routes) >= 19
    assert routes - covered == set()


@pytest.mark.parametrize(("method", "template", "kind", "body"), RECORD_ROUTES,
                         ids=[f"{m} {t}" for m, t, _k, _b in RECORD_ROUTES])
async def test_other_tenants_record_answers_404_and_stays_unchanged(client, db, world: World, method: str,
                                                                    template: str, kind: str, body: Any) -> None:
    path = CRM + template.split("{")[0] + str(world.a[kind]) + template.split("}")[1]
    before_records = await _a_records(client, world)
    before_counts = await row_counts(db)
    response = await client.request(method, path, headers=world.b_headers,
                                    json=body(world) if body else None)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await _a_records(client, world) == before_records
    assert await row_counts(db) == before_counts


@pytest.mark.parametrize(("route", "body", "field"), REFERENCING_CREATES,
                         ids=[f"{r} {f}" for r, _b, f in REFERENCING_CREATES])
async def test_linking_another_tenants_record_is_refused_and_writes_nothing(client, db, world: World, route: str,
                                                                            body: Any, field: str) -> None:
    before = await row_counts(db)
    response = await client.post(CRM + route, headers=world.b_headers, json=body(world))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert await row_counts(db) == before


async def test_refusal_for_another_tenants_record_reads_like_a_missing_one(client, world: World) -> None:
    foreign = await client.get(f"{CRM}/contacts/{world.a['contact']}", headers=world.b_headers)
    missing = await client.get(f"{CRM}/contacts/999999", headers=world.b_headers)
    assert foreign.json()["detail"].replace(str(world.a["contact"]), "N") == missing.json()["detail"].replace(
        "999999", "N")


@pytest.mark.parametrize("route", LIST_ROUTES)
async def test_lists_show_only_the_keys_tenant(client, world: World, route: str) -> None:
    response = await client.get(CRM + route, headers=world.b_headers)
    assert response.status_code == 200
    page = response.json()
    kind = {"/contacts": "contact", "/leads": "lead", "/deals": "deal", "/activities": "activity"}[route]
    assert [item["id"] for item in page["items"]] == [world.b[kind]]
    assert page["total"] == 1


@pytest.mark.parametrize(("route", "param", "kind"), [
    ("/leads", "contact_id", "contact"), ("/deals", "contact_id", "contact"),
    ("/activities", "deal_id", "deal"), ("/activities", "lead_id", "lead"), ("/activities", "contact_id", "contact"),
])
async def test_filtering_by_another_tenants_id_finds_nothing(client, world: World, route: str, param: str,
                                                             kind: str) -> None:
    page = (await client.get(CRM + route, headers=world.b_headers, params={param: world.a[kind]})).json()
    assert (page["items"], page["total"]) == ([], 0)


async def test_pipelines_are_the_keys_tenants(client, world: World) -> None:
    a = (await client.get(f"{CRM}/pipelines", headers=world.a_headers)).json()
    b = (await client.get(f"{CRM}/pipelines", headers=world.b_headers)).json()
    assert {p["id"] for p in a}.isdisjoint({p["id"] for p in b})


async def test_a_contact_email_used_by_another_tenant_is_free_for_this_one(client, world: World) -> None:
    response = await client.post(f"{CRM}/contacts", headers=world.b_headers, json={"email": "anna@mrdj.example"})
    assert response.status_code == 201


async def test_audit_log_shows_only_the_keys_tenant(client, world: World) -> None:
    await client.patch(f"{CRM}/contacts/{world.a['contact']}", headers=world.a_headers, json={"owner": "lisa"})
    page = (await client.get("/api/v1/audit", headers=world.b_headers, params={"entity_type": "contact"})).json()
    assert page["items"] == []


@pytest.mark.parametrize("route", EXPORT_ROUTES)
async def test_exports_show_only_the_keys_tenant(client, world: World, route: str) -> None:
    response = await client.get(CRM + route, headers=world.b_headers)
    assert response.status_code == 200, response.text
    assert "anna@other.example" in response.text
    assert "anna@mrdj.example" not in response.text


async def test_an_import_never_touches_another_tenants_contact(client, db, world: World) -> None:
    before = await _a_records(client, world)
    response = await client.post(f"{CRM}/import/contacts", headers=world.b_headers,
                                 json={"csv": "email;voornaam;bedrijf\nANNA@mrdj.example;Mallory;Evil BV\n"})
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["created"] == 1  # a new person for tenant B, not A's contact
    assert await _a_records(client, world) == before
