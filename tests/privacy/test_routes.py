"""Every privacy route: the roles that may call it (erase and access export: admin; merge, import and export:
operations), anonymous refusal, tenant isolation (another tenant's person is a 404 and stays untouched)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.table_counts import row_counts

# (method, path, body maker, roles allowed)
ROUTES: list[tuple[str, str, Any, set[str]]] = [
    ("POST", "/api/v1/privacy/access-export", lambda ids: {"contact_id": ids["contact"]}, {"admin"}),
    ("POST", "/api/v1/privacy/erase", lambda ids: {"contact_id": ids["contact"], "request": "R", "dry_run": True},
     {"admin"}),
    ("POST", "/api/v1/privacy/retention", lambda ids: {"dry_run": True}, {"admin"}),
    ("GET", "/api/v1/privacy/policy", None, {"admin", "operations", "sales", "support", "engineering"}),
]
ROLES = ("sales", "operations", "engineering", "support", "admin")


def test_the_table_covers_every_privacy_route(app) -> None:
    paths = app.openapi()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() if p.startswith("/api/v1/privacy") for m in ops}
    assert routes == {(m, p) for m, p, _b, _r in ROUTES}


@pytest.fixture
async def person(factory):  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant, email="anna@example.nl")
    await factory.lead(tenant, contact)
    return tenant, {"contact": contact.id}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES, ids=[f"{m} {p}" for m, p, _b, _a in ROUTES])
async def test_roles(client, db, factory, person, role: str, method: str, path: str, body: Any,
                     allowed: set[str]) -> None:
    tenant, ids = person
    headers = await factory.headers(tenant, role)
    before = await row_counts(db)
    response = await client.request(method, path, headers=headers, json=body(ids) if body else None)
    if role in allowed:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert await row_counts(db) == before


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ROUTES, ids=[f"{m} {p}" for m, p, _b, _a in ROUTES])
async def test_without_a_key_is_401(client, db, person, method: str, path: str, body: Any, allowed: set[str]) -> None:
    _tenant, ids = person
    response = await client.request(method, path, json=body(ids) if body else None)
    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/privacy/access-export", "/api/v1/privacy/erase"])
async def test_another_tenants_person_is_404_and_untouched(client, db, factory, person, path: str) -> None:
    _tenant, ids = person
    other = await factory.tenant("other")
    headers = await factory.headers(other, "admin")
    before = await row_counts(db)
    for body in ({"contact_id": ids["contact"]}, {"email": "anna@example.nl"}):
        response = await client.post(path, headers=headers, json=body | {"request": "R-9"})
        assert response.status_code == 404, response.text
    assert await row_counts(db) == before


async def test_retention_of_one_tenant_leaves_the_other_alone(client, db, factory, person) -> None:
    import datetime as dt

    tenant, _ids = person
    other = await factory.tenant("other")
    old = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    theirs = await factory.contact(other, email="b@example.nl")
    await factory.lead(other, theirs, created_at=old)
    response = await client.post("/api/v1/privacy/retention", headers=await factory.headers(tenant, "admin"),
                                 json={})
    assert response.json()["leads_anonymised"] == 0
    page = (await client.get("/api/v1/crm/contacts", headers=await factory.headers(other, "admin"))).json()
    assert page["items"][0]["email"] == "b@example.nl"
