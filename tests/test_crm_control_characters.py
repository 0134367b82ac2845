"""Control characters on the CRM and template routes: single-line fields (names, titles, owners, teams, ids,
a template's subject) refuse them with a 422 naming the field and write nothing; bodies keep line breaks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.table_counts import row_counts

CRM = "/api/v1/crm"
INJECTION = "Eve\r\nBcc: x@example.org"

# (method, path, body, the field that must be named)
REFUSED: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/contacts", {"first_name": INJECTION}, "first_name"),
    ("POST", "/contacts", {"first_name": "Eve", "last_name": "de\nVries"}, "last_name"),
    ("POST", "/contacts", {"first_name": "Eve", "company": "Mr\x00DJ"}, "company"),
    ("POST", "/contacts", {"first_name": "Eve", "email": "eve@example.nl\r\nBcc: y@example.org"}, "email"),
    ("PATCH", "/contacts/{contact}", {"first_name": INJECTION}, "first_name"),
    ("PATCH", "/contacts/{contact}", {"owner": "lisa\u2028bart"}, "owner"),
    ("POST", "/leads", {"contact_id": "{contact}", "city": "Utrecht\r\nX: y"}, "city"),
    ("POST", "/leads", {"contact_id": "{contact}", "external_id": "site\n1"}, "external_id"),
    ("POST", "/leads", {"contact_id": "{contact}", "message": "hallo\x1b[2J"}, "message"),
    ("PATCH", "/leads/{lead}", {"venue": "Zaal\t1"}, "venue"),
    ("PATCH", "/leads/{lead}", {"team": "sales\r\nx"}, "team"),
    ("POST", "/deals", {"contact_id": "{contact}", "pipeline": "wedding", "title": "Bruiloft\r\nBcc: x"}, "title"),
    ("PATCH", "/deals/{deal}", {"title": "Deal\x07"}, "title"),
    ("PATCH", "/deals/{deal}", {"owner": "li\nsa"}, "owner"),
    ("POST", "/activities", {"title": "Bel\nterug", "deal_id": "{deal}"}, "title"),
    ("POST", "/activities", {"title": "Bel", "deal_id": "{deal}", "body": "notitie\x00"}, "body"),
    ("PATCH", "/activities/{activity}", {"team": "a\rb"}, "team"),
]


@pytest.fixture
async def ids(factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant, email="anna@example.nl")
    lead = await factory.lead(tenant, contact)
    deal = await factory.deal(tenant, contact)
    task = await factory.activity(tenant, kind="task", deal_id=deal.id)
    return {"contact": contact.id, "lead": lead.id, "deal": deal.id, "activity": task.id,
            "headers": await factory.headers(tenant, "admin")}


def _fill(body: dict[str, Any], ids: dict[str, Any]) -> dict[str, Any]:
    return {k: (ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") and v.endswith("}") else v)
            for k, v in body.items()}


@pytest.mark.parametrize(("method", "template", "body", "field"), REFUSED,
                         ids=[f"{m} {p} {f}" for m, p, _b, f in REFUSED])
async def test_control_character_is_422_naming_the_field_and_writes_nothing(
        client: httpx.AsyncClient, db, ids, method: str, template: str, body: dict[str, Any],  # type: ignore[no-untyped-def]
        field: str) -> None:
    before = await row_counts(db)
    response = await client.request(method, CRM + template.format(**ids), headers=ids["headers"],
                                    json=_fill(body, ids))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await row_counts(db) == before


async def test_activity_body_keeps_line_breaks_and_tabs(client: httpx.AsyncClient, ids) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(f"{CRM}/activities", headers=ids["headers"], json={
        "title": "Gesprek", "deal_id": ids["deal"], "body": "Punt 1\r\n\tPunt 2"})
    assert response.status_code == 201, response.text
    assert response.json()["body"] == "Punt 1\n\tPunt 2"


async def test_template_subject_with_a_line_break_is_refused(client: httpx.AsyncClient, db, factory) -> None:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    headers = await factory.headers(tenant, "operations")
    before = await row_counts(db)
    response = await client.post("/api/v1/templates", headers=headers, json={
        "key": "lead-welcome", "channel": "email", "subject": "Welkom\r\nBcc: x@example.org",
        "text_body": "Hoi {{ contact.first_name }}", "variables": ["contact.first_name"]})
    assert response.status_code == 422, response.text
    assert "subject" in [e["field"] for e in response.json()["errors"]]
    assert await row_counts(db) == before
