"""Roles against the CRM routes for both kinds of principal (API key and signed-in session), and the 401s for
missing, garbled and revoked keys."""

from __future__ import annotations

from typing import Any

import pytest

from rentguy_crm.auth import service as keys
from tests.table_counts import row_counts

CRM = "/api/v1/crm"

# (name, method, path template, body maker, permission needed)
ROUTES: list[tuple[str, str, str, Any, str]] = [
    ("list contacts", "GET", "/contacts", None, "read"),
    ("get contact", "GET", "/contacts/{contact}", None, "read"),
    ("create contact", "POST", "/contacts", lambda ids: {"first_name": "Nieuw"}, "crm_write"),
    ("update contact", "PATCH", "/contacts/{contact}", lambda ids: {"owner": "x", "reason": "typo"}, "crm_write"),
    ("merge contacts", "POST", "/contacts/{contact}/merge",
     lambda ids: {"other_id": ids["other"], "reason": "duplicate", "dry_run": True}, "data_correct"),
    ("export contacts", "GET", "/contacts/export.csv", None, "data_correct"),
    ("export leads", "GET", "/leads/export.csv", None, "data_correct"),
    ("import contacts", "POST", "/import/contacts",
     lambda ids: {"csv": "e-mail;voornaam\nnieuw@example.nl;Nina\n", "dry_run": True}, "data_correct"),
    ("list leads", "GET", "/leads", None, "read"),
    ("get lead", "GET", "/leads/{lead}", None, "read"),
    ("create lead", "POST", "/leads", lambda ids: {"contact_id": ids["contact"]}, "crm_write"),
    ("update lead", "PATCH", "/leads/{lead}", lambda ids: {"status": "contacted"}, "crm_write"),
    ("pipelines", "GET", "/pipelines", None, "read"),
    ("list deals", "GET", "/deals", None, "read"),
    ("get deal", "GET", "/deals/{deal}", None, "read"),
    ("create deal", "POST", "/deals",
     lambda ids: {"contact_id": ids["contact"], "pipeline": "wedding", "title": "x"}, "crm_write"),
    ("update deal", "PATCH", "/deals/{deal}", lambda ids: {"owner": "x"}, "crm_write"),
    ("move deal", "POST", "/deals/{deal}/stage", lambda ids: {"stage": "qualified"}, "crm_write"),
    ("list activities", "GET", "/activities", None, "read"),
    ("get activity", "GET", "/activities/{activity}", None, "read"),
    ("create activity", "POST", "/activities", lambda ids: {"title": "x", "deal_id": ids["deal"]}, "activities"),
    ("update activity", "PATCH", "/activities/{activity}", lambda ids: {"owner": "x"}, "activities"),
    ("complete task", "POST", "/activities/{activity}/complete", None, "activities"),
]

# What each role may do on the CRM routes (mirrors auth/permissions.py; a change there must show up here).
ALLOWED = {
    "sales": {"read", "crm_write", "activities"},
    "operations": {"read", "crm_write", "activities", "data_correct"},
    "admin": {"read", "crm_write", "activities", "data_correct"},
    "support": {"read", "activities"},
    "engineering": {"read"},
}
PERMISSION = {"read": "crm:read", "crm_write": "crm:write", "activities": "activities:write",
              "data_correct": "data:correct"}
CREATED = {"/contacts", "/leads", "/deals", "/activities"}


@pytest.fixture
async def records(factory) -> tuple[Any, dict[str, int]]:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant, email="anna@example.nl")
    lead = await factory.lead(tenant, contact)
    deal = await factory.deal(tenant, contact)
    task = await factory.activity(tenant, kind="task", deal_id=deal.id)
    other = await factory.contact(tenant, email="anna.tweede@example.nl")
    return tenant, {"contact": contact.id, "lead": lead.id, "deal": deal.id, "activity": task.id, "other": other.id}


def _path(template: str, ids: dict[str, int]) -> str:
    return CRM + template.format(**ids)


CASES = [(kind, role, *route) for kind in ("key", "session") for role in ALLOWED for route in ROUTES]


@pytest.mark.parametrize(("kind", "role", "name", "method", "template", "body", "needs"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
async def test_role_against_route(client, factory, db, records, kind: str, role: str, name: str, method: str,
                                  template: str, body: Any, needs: str) -> None:
    tenant, ids = records
    headers = await factory.credentials(kind, tenant, role)
    before = await row_counts(db)
    response = await client.request(method, _path(template, ids), headers=headers,
                                    json=body(ids) if body else None)
    if needs in ALLOWED[role]:
        expected = 201 if method == "POST" and template in CREATED else 200
        assert response.status_code == expected, response.text
    else:
        assert response.status_code == 403, response.text
        assert PERMISSION[needs] in response.json()["detail"]
        assert await row_counts(db) == before


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer rg_not-a-key",
                                    "rg_missing-scheme"])
async def test_missing_or_garbled_authorization_is_401(client, records, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get(f"{CRM}/contacts", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_unauthenticated_write_is_401_before_the_body_is_judged(client, db, records) -> None:
    before = await row_counts(db)
    response = await client.post(f"{CRM}/contacts", json={"nonsense": True})
    assert response.status_code == 401
    assert await row_counts(db) == before


async def test_revoked_key_is_401(client, factory, db, records) -> None:
    tenant, _ids = records
    async with db.session() as session:
        key, raw = await keys.create_key(session, tenant, name="temp", roles=["sales"])
    headers = {"Authorization": f"Bearer {raw}"}
    assert (await client.get(f"{CRM}/contacts", headers=headers)).status_code == 200
    async with db.session() as session:
        await keys.revoke_key(session, key.id)
    response = await client.get(f"{CRM}/contacts", headers=headers)
    assert response.status_code == 401


async def test_audit_log_needs_the_audit_permission(client, factory, records) -> None:
    tenant, _ids = records
    assert (await client.get("/api/v1/audit", headers=await factory.headers(tenant, "sales"))).status_code == 403
    assert (await client.get("/api/v1/audit", headers=await factory.headers(tenant, "engineering"))).status_code == 200
