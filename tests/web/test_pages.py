"""The web app's pages through HTTP: the headers every page carries, signing in and out, the language switch,
the tenant's stylesheet, the asset allow-list, the inbox's search and its spam / not spam, and mistakes answered
with a page that says what is wrong (problem JSON for API clients)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from rentguy_crm.auth import sessions
from rentguy_crm.automation.runs.models import AutomationRun
from rentguy_crm.automation.workflows import service as workflows
from rentguy_crm.crm.models import Lead
from rentguy_crm.db import Database
from rentguy_crm.web.rendering import CONTENT_SECURITY_POLICY
from tests.table_counts import row_counts
from tests.web.page_table import web_headers

PUBLIC = "/api/v1/public/leads"


def form(**values: str) -> dict[str, str]:
    return {"tenant": "mrdj", "first_name": "Fleur", "last_name": "Jansen", "email": "fleur@example.nl",
            "phone": "06 12345678", "event_type": "bruiloft", **values}


@pytest.fixture
async def signed_in(factory, mrdj) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return await factory.session_headers(mrdj, "admin")


async def test_pages_carry_the_strict_csp_and_are_not_cached(client: httpx.AsyncClient, signed_in) -> None:
    response = await client.get("/", headers=web_headers(signed_in))
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text and " style=" not in response.text  # nothing inline to allow


async def test_the_page_holds_the_sessions_csrf_token_for_htmx_and_forms(client: httpx.AsyncClient,
                                                                        signed_in) -> None:
    page = (await client.get("/", headers=web_headers(signed_in))).text
    token = signed_in["X-CSRF-Token"]
    assert f'<meta name="csrf-token" content="{token}">' in page
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page
    assert f'<input type="hidden" name="csrf_token" value="{token}">' in page


async def test_a_plain_form_with_the_hidden_token_is_accepted(client: httpx.AsyncClient, signed_in) -> None:
    headers = web_headers(signed_in, csrf=False)
    refused = await client.post("/sign-out", headers=headers, data={"csrf_token": "x" * 64})
    accepted = await client.post("/sign-out", headers=headers, data={"csrf_token": signed_in["X-CSRF-Token"]})
    assert refused.status_code == 403
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/sign-in")
    after = await client.get("/", headers=headers)
    assert after.status_code == 303 and after.headers["location"].startswith("/sign-in?next=/")


async def test_sign_in_page_offers_sso_for_the_tenant_and_the_way_back(client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-in", params={"next": "/leads?status=new"}, headers={"Cookie": "crm_tenant=mrdj"})
    assert page.status_code == 200
    assert 'action="/api/v1/auth/sso/login"' in page.text
    assert 'name="tenant"' in page.text and 'value="mrdj"' in page.text
    assert 'name="next" value="/leads?status=new"' in page.text


async def test_sign_in_page_never_sends_the_person_elsewhere(client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-in", params={"next": "//evil.example/x"})
    assert 'name="next" value="/"' in page.text


async def test_the_language_choice_is_kept_and_the_pages_follow_it(client: httpx.AsyncClient, signed_in) -> None:
    headers = web_headers(signed_in, csrf=False)
    dutch = await client.get("/leads", headers=headers)
    assert '<html lang="nl">' in dutch.text and "<h1>Leads</h1>" in dutch.text and "Filteren" in dutch.text
    switched = await client.post("/ui/language", headers=headers,
                                 data={"language": "en", "next": "/leads", "csrf_token": signed_in["X-CSRF-Token"]})
    assert (switched.status_code, switched.headers["location"]) == (303, "/leads")
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("crm_lang=en;") and "Max-Age=34560000" in cookie
    english = await client.get("/leads", headers={**headers, "Cookie": headers["Cookie"] + "; crm_lang=en"})
    assert '<html lang="en">' in english.text and "Filter</button>" in english.text


async def test_an_unknown_language_is_a_clear_4xx(client: httpx.AsyncClient, signed_in) -> None:
    response = await client.post("/ui/language", headers=web_headers(signed_in),
                                 data={"language": "fr", "csrf_token": signed_in["X-CSRF-Token"]})
    assert response.status_code == 400
    assert "Choose a language: nl, en" in response.text


async def test_the_stylesheet_carries_the_tenants_colours(client: httpx.AsyncClient, factory) -> None:
    tenant = await factory.tenant("mrdj", branding={"display_name": "Mr. DJ", "primary_color": "#1A1A2E",
                                                    "secondary_color": "#E94560"})
    headers = await factory.session_headers(tenant, "sales")
    css = await client.get("/ui/branding.css", headers=headers)
    assert css.headers["content-type"].startswith("text/css")
    assert "--brand-primary: #1A1A2E;" in css.text and "--brand-accent: #E94560;" in css.text
    page = await client.get("/", headers=web_headers(headers))
    assert "<strong>Mr. DJ</strong>" in page.text
    anonymous = await client.get("/ui/branding.css")
    assert "--brand-primary: #1F4E79;" in anonymous.text  # the suite's own look before signing in


async def test_times_are_shown_in_the_tenants_zone_with_the_zone_named(client: httpx.AsyncClient, factory,
                                                                       mrdj, signed_in) -> None:
    contact = await factory.contact(mrdj)
    await factory.lead(tenant=mrdj, contact=contact)
    listed = await client.get("/ui/leads/list", headers=web_headers(signed_in, htmx=True))
    assert re.search(r"<time datetime=\"[^\"]+\+00:00\">\d\d-\d\d-\d{4} \d\d:\d\d CES?T</time>", listed.text)


@pytest.mark.parametrize("name", ["htmx.min.js", "htmx-ext-sse.min.js", "pico.min.css", "sortable.min.js"])
async def test_the_allowed_vendor_files_are_served_from_node_modules(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/static/vendor/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(("text/javascript", "text/css"))


@pytest.mark.parametrize(("name", "status"), [("axe.min.js", 404), ("package.json", 404),
                                              ("..%2Fpackage.json", 422), ("..", 422)])
async def test_nothing_else_from_node_modules_is_served(client: httpx.AsyncClient, name: str, status: int) -> None:
    response = await client.get(f"/static/vendor/{name}")
    assert response.status_code in (status, 404)
    assert response.headers["content-type"] == "application/problem+json"


async def test_search_finds_a_lead_by_phone_in_any_notation_and_by_name(client: httpx.AsyncClient, signed_in,
                                                                        mrdj) -> None:
    await client.post(PUBLIC, json=form())
    await client.post(PUBLIC, json=form(first_name="Sem", last_name="Bakker", email="sem@example.nl",
                                        phone="020 123 4567"))
    headers = web_headers(signed_in, htmx=True)
    for term, expected in [("+31 6 1234 5678", ["Fleur Jansen"]), ("0612345678", ["Fleur Jansen"]),
                           ("bakker", ["Sem Bakker"]), ("sem@exa", ["Sem Bakker"]), ("100%_", [])]:
        listed = await client.get("/ui/leads/list", params={"q": term}, headers=headers)
        assert re.findall(r'#lead-\d+">([^<]+)</a>', listed.text) == expected, term


async def test_a_bad_filter_is_a_page_naming_the_field_and_api_clients_get_problem_json(
        client: httpx.AsyncClient, signed_in) -> None:
    page = await client.get("/ui/leads/list", params={"status": "gone"}, headers=web_headers(signed_in, htmx=True))
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]
    assert "status" in page.text
    api = await client.get("/ui/leads/list", params={"status": "gone"}, headers=signed_in)
    assert api.status_code == 422 and api.headers["content-type"] == "application/problem+json"


async def test_assigning_someone_outside_the_tenant_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, db: Database, factory, mrdj, signed_in) -> None:
    lead = await factory.lead(mrdj)
    before = await row_counts(db)
    response = await client.post(f"/ui/leads/{lead.id}/assign", data={"owner": "mallory@evil.example"},
                                 headers=web_headers(signed_in, htmx=True))
    assert response.status_code == 422 and "mallory@evil.example" in response.text
    assert await row_counts(db) == before


async def test_marking_a_form_spam_lead_not_spam_starts_its_automation(client: httpx.AsyncClient, db: Database,
                                                                       mrdj, signed_in) -> None:
    async with db.session() as session:
        await workflows.sync(session, "mrdj", actor="test")
    captured = await client.post(PUBLIC, json=form(website="http://spam.example"))  # the honeypot was filled
    assert captured.status_code == 201
    async with db.session() as session:
        lead = (await session.scalars(select(Lead))).one()
        assert lead.status == "spam"
        assert (await session.scalars(select(AutomationRun))).all() == []
    headers = web_headers(signed_in, htmx=True)
    row = await client.post(f"/ui/leads/{lead.id}/not-spam", headers=headers)
    assert row.status_code == 200 and "automatisering is gestart" in row.text
    async with db.session() as session:
        runs = (await session.scalars(select(AutomationRun).where(AutomationRun.lead_id == lead.id))).all()
        assert "lead_intake" in {run.workflow_key for run in runs}
        assert (await session.get(Lead, lead.id)).status == "new"  # type: ignore[union-attr]
    again = await client.post(f"/ui/leads/{lead.id}/not-spam", headers=headers)
    assert again.status_code == 409  # not spam any more: nothing starts twice


async def test_marking_spam_takes_the_lead_out_of_the_new_leads(client: httpx.AsyncClient, factory, mrdj,
                                                                signed_in) -> None:
    lead = await factory.lead(mrdj)
    headers = web_headers(signed_in, htmx=True)
    assert f"#lead-{lead.id}" in (await client.get("/ui/today/new-leads", headers=headers)).text
    marked = await client.post(f"/ui/leads/{lead.id}/spam", headers=headers)
    assert marked.status_code == 200 and "badge-spam" in marked.text
    assert f"#lead-{lead.id}" not in (await client.get("/ui/today/new-leads", headers=headers)).text


async def test_the_contact_page_shows_form_data_consent_and_the_runs_with_their_step_log(
        client: httpx.AsyncClient, db: Database, mrdj, signed_in) -> None:
    async with db.session() as session:
        await workflows.sync(session, "mrdj", actor="test")
    captured = (await client.post(PUBLIC, json=form(message="Graag een offerte", marketing_opt_in=True))).json()
    async with db.session() as session:
        lead = await session.get(Lead, captured["lead_id"])
        assert lead is not None
    page = await client.get(f"/contacts/{lead.contact_id}", headers=web_headers(signed_in))
    assert "Graag een offerte" in page.text and "Toestemming gegeven" in page.text
    timeline = await client.get(f"/ui/contacts/{lead.contact_id}/timeline", headers=web_headers(signed_in, htmx=True))
    assert "Automatisering lead_intake" in timeline.text and "Lead ontvangen" in timeline.text


async def test_the_one_time_sign_in_link_lands_on_the_web_app(client: httpx.AsyncClient, db: Database,
                                                              mrdj) -> None:
    async with db.session() as session:
        _link, raw = await sessions.create_link(session, mrdj, email="bart@example.nl", roles=["admin"],
                                                actor="test")
    signed_in = await client.get(f"/api/v1/auth/link/{raw}")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
    cookie = signed_in.cookies.get("crm_session")
    today = await client.get("/", headers={"Accept": "text/html", "Cookie": f"crm_session={cookie}"})
    assert today.status_code == 200 and "<h1>Vandaag</h1>" in today.text
