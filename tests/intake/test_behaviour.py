"""Idempotency, honeypot, CORS, proxies and input limits of the lead routes."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.app import create_app
from rentguy_crm.config import get_settings
from rentguy_crm.crm.models import Contact, Lead
from rentguy_crm.db import Database
from rentguy_crm.events.models import Event
from tests.intake.test_pipeline import PUBLIC, count, form, only


async def test_replayed_idempotency_key_returns_first_response(client: httpx.AsyncClient, db: Database,
                                                               mrdj) -> None:
    headers = {"Idempotency-Key": "form-123"}
    first = await client.post(PUBLIC, json=form(), headers=headers)
    again = await client.post(PUBLIC, json=form(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await count(db, Lead) == 1


async def test_idempotency_key_with_another_body_is_409_and_stores_nothing(client: httpx.AsyncClient,
                                                                           db: Database, mrdj) -> None:
    headers = {"Idempotency-Key": "form-123"}
    await client.post(PUBLIC, json=form(), headers=headers)
    other = await client.post(PUBLIC, json=form(email="someone@example.nl"), headers=headers)
    assert other.status_code == 409
    assert await count(db, Lead) == 1 and await count(db, Contact) == 1


async def test_honeypot_answers_like_success_but_stores_spam_without_event(client: httpx.AsyncClient,
                                                                           db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(website="http://spam.example"))
    assert response.status_code == 201
    assert response.json()["status"] == "new" and response.json()["automation_triggered"] is False
    lead = await only(db, Lead)
    assert lead.status == "spam" and "spam" in lead.flags
    assert await count(db, Event) == 0


async def test_cors_preflight_allows_the_tenant_origin(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.options(PUBLIC, headers={"Origin": "https://mr-dj.nl",
                                                     "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://mr-dj.nl"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


async def test_cors_preflight_refuses_other_origins(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.options(PUBLIC, headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_post_from_allowed_origin_carries_cors_headers(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(), headers={"Origin": "https://mr-dj.nl"})
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == "https://mr-dj.nl"


async def test_post_from_foreign_origin_is_refused(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(), headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert await count(db, Lead) == 0


async def _client_from(db: Database, peer: str, trusted: list[str]) -> httpx.AsyncClient:
    settings = get_settings().model_copy(update={"trusted_proxies": trusted})
    transport = httpx.ASGITransport(app=create_app(settings, db=db), client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_forwarded_for_is_used_behind_a_trusted_proxy(db: Database, mrdj) -> None:
    async with await _client_from(db, "10.0.0.5", ["10.0.0.0/8"]) as c:
        await c.post(PUBLIC, json=form(marketing_opt_in=True), headers={"X-Forwarded-For": "198.51.100.7"})
    assert (await only(db, Contact)).consent["ip"] == "198.51.100.7"


async def test_forwarded_for_from_untrusted_peer_is_ignored(db: Database, mrdj) -> None:
    async with await _client_from(db, "203.0.113.99", ["10.0.0.0/8"]) as c:
        await c.post(PUBLIC, json=form(marketing_opt_in=True), headers={"X-Forwarded-For": "198.51.100.7"})
    assert (await only(db, Contact)).consent["ip"] == "203.0.113.99"


async def test_invented_addresses_do_not_escape_the_per_ip_limit(db: Database, mrdj) -> None:
    async with await _client_from(db, "203.0.113.99", []) as c:
        codes = [(await c.post(PUBLIC, json=form(email=f"x{i}@example.nl"),
                               headers={"X-Forwarded-For": f"198.51.100.{i}"})).status_code for i in range(11)]
    assert codes[:10] == [201] * 10 and codes[10] == 429


async def test_public_body_over_64_kib_is_413(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    response = await client.post(PUBLIC, json=form(message="x" * (65 * 1024)))
    assert response.status_code == 413
    assert await count(db, Lead) == 0


async def test_form_encoded_body_is_415(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.post(PUBLIC, data={"tenant": "mrdj"})
    assert response.status_code == 415


@pytest.mark.parametrize(("field", "value"), [
    ("email", "not-an-email"), ("phone", "12"), ("event_type", "rave"), ("guests", -1),
    ("event_date", "31-12-2025"), ("budget", "lots"), ("first_name", "x" * 201), ("unknown_field", 1),
    ("first_name", "nul\x00byte"), ("marketing_opt_in", "maybe"),
])
async def test_invalid_field_is_422_naming_it(client: httpx.AsyncClient, db: Database, mrdj, field: str,
                                              value: object) -> None:
    response = await client.post(PUBLIC, json=form(**{field: value}))
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert await count(db, Lead) == 0


async def test_body_that_is_not_json_is_422(client: httpx.AsyncClient, mrdj) -> None:
    response = await client.post(PUBLIC, content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body"


async def test_odd_text_is_stored_as_given(client: httpx.AsyncClient, db: Database, mrdj) -> None:
    name = "Zoë 🎉 <script>alert(1)</script>'; DROP TABLE leads;--"
    response = await client.post(PUBLIC, json=form(first_name=name, message="ñ" * 9000))
    assert response.status_code == 201
    assert (await only(db, Contact)).first_name == name


async def test_fifty_simultaneous_posts_of_one_new_email_make_one_contact(db: Database, factory, mrdj) -> None:
    headers = await factory.headers(mrdj, "sales")
    transport = httpx.ASGITransport(app=create_app(get_settings(), db=db), client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as c:
        responses = await asyncio.gather(*(
            c.post("/api/v1/leads", json=form(tenant=None, email="race@example.nl", message=f"m{i}"),
                   headers=headers) for i in range(50)))
    assert sorted({r.status_code for r in responses}) == [201], [r.text for r in responses if r.status_code != 201]
    async with db.session() as session:
        contacts = (await session.scalars(select(Contact))).all()
        leads = (await session.scalars(select(Lead))).all()
    assert len(contacts) == 1 and len(leads) == 50
    assert sum(1 for r in responses if r.json()["duplicate"] is False) == 1


async def test_simultaneous_double_clicks_make_one_lead(db: Database, mrdj) -> None:
    transport = httpx.ASGITransport(app=create_app(get_settings(), db=db), client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as c:
        responses = await asyncio.gather(*(c.post(PUBLIC, json=form(message="klik")) for _ in range(5)))
    assert {r.json()["lead_id"] for r in responses} == {responses[0].json()["lead_id"]}
    assert await count(db, Lead) == 1


@pytest.mark.parametrize("tenant", ["mr\x00dj", "\ud800", "🎉" * 100, "MRDJ; DROP TABLE tenants"])
async def test_impossible_tenant_names_are_404_not_5xx(client: httpx.AsyncClient, mrdj, tenant: str) -> None:
    raw = json.dumps(form(tenant=tenant)).encode()
    response = await client.post(PUBLIC, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 404


async def test_simultaneous_requests_with_one_idempotency_key_store_once(db: Database, mrdj) -> None:
    transport = httpx.ASGITransport(app=create_app(get_settings(), db=db), client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as c:
        responses = await asyncio.gather(*(c.post(PUBLIC, json=form(email="known@example.nl"),
                                                  headers={"Idempotency-Key": "same"}) for _ in range(5)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["lead_id"] for r in responses}) == 1
    assert await count(db, Lead) == 1


@pytest.mark.parametrize("origin", ["https://evil.example", "https://mr-dj.nl"])
async def test_a_browser_post_for_an_unknown_tenant_is_refused_like_a_known_one_refusing_its_origin(
        client: httpx.AsyncClient, db: Database, factory, mrdj, origin: str) -> None:
    await factory.tenant("acme", intake={"allowed_origins": ["https://acme.example"]})
    known = await client.post(PUBLIC, json=form(tenant="acme"), headers={"Origin": origin})
    unknown = await client.post(PUBLIC, json=form(tenant="nosuch"), headers={"Origin": origin})
    assert known.status_code == unknown.status_code == 403
    assert known.json()["detail"] == unknown.json()["detail"]
    assert "nosuch" not in unknown.text and "acme" not in known.json()["detail"]
    assert await count(db, Lead) == 0
