"""Every page and fragment against every role (the API's permission table decides), without a session, without
the CSRF token, and from another tenant: the sign-in page, the "not allowed" page, 403 and 404, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from rentguy_crm.auth.permissions import ROLES
from rentguy_crm.web import admin, automations, deals, message_templates, pipelines, reports, tasks, tickets
from rentguy_crm.web.routes import SCREENS
from tests.table_counts import row_counts
from tests.web.page_table import PAGES, PUBLIC, STREAMS, PageRoute, web_headers

ROLE_CASES = [(role, page) for role in sorted(ROLES) for page in PAGES]


@pytest.fixture
async def records(factory) -> tuple[Any, dict[str, int]]:  # type: ignore[no-untyped-def]
    tenant = await factory.tenant("mrdj")
    contact = await factory.contact(tenant, email="anna@example.nl")
    lead = await factory.lead(tenant, contact, status="spam", flags=["spam"])
    return tenant, {"contact": contact.id, "lead": lead.id}


# Screens whose routes walk their own tables (roles, signed out, CSRF, another tenant), each with a test that its
# table covers its routers: tests/web/test_board_and_tasks_access.py, test_operations_screens_access.py,
# test_desk_admin_report_routes.py.
SCREENS_WITH_THEIR_OWN_TABLE = [pipelines.router, deals.router, tasks.router, automations.router,
                                message_templates.router, tickets.router, reports.router, admin.router]


def test_the_table_names_every_route_of_the_web_app() -> None:
    declared = {(method, route.path) for screen in SCREENS if screen not in SCREENS_WITH_THEIR_OWN_TABLE
                for route in screen.routes if isinstance(route, APIRoute) for method in route.methods}
    covered = {(p.method, p.template) for p in PAGES} | PUBLIC | STREAMS
    assert len(declared) >= 18
    assert declared == covered


async def _call(client, page: PageRoute, ids: dict[str, int], headers: dict[str, str]):  # type: ignore[no-untyped-def]
    form = page.form(ids) if page.form else None
    return await client.request(page.method, page.path(ids), headers=headers, data=form)


@pytest.mark.parametrize(("role", "page"), ROLE_CASES, ids=[f"{r}-{p.method} {p.template}" for r, p in ROLE_CASES])
async def test_role_against_page(client, factory, db, records, role: str, page: PageRoute) -> None:
    tenant, ids = records
    headers = web_headers(await factory.session_headers(tenant, role), htmx=page.template.startswith("/ui/"))
    before = await row_counts(db)
    response = await _call(client, page, ids, headers)
    if page.needs is None or page.needs in ROLES[role]:
        assert response.status_code in (200, 303), response.text
        assert response.headers.get("location", "/sign-in") == "/sign-in" or page.template != "/sign-out"
    else:
        assert response.status_code == 403, response.text
        assert page.needs.value in response.text  # the not-allowed page names what is missing
        assert "text/html" in response.headers["content-type"]
        assert await row_counts(db) == before


@pytest.mark.parametrize("page", PAGES, ids=[f"{p.method} {p.template}" for p in PAGES])
async def test_without_a_session_the_page_sends_the_person_to_sign_in(client, db, records, page: PageRoute) -> None:
    _tenant, ids = records
    before = await row_counts(db)
    response = await _call(client, page, ids, {"Accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")
    if page.method == "GET":
        assert response.headers["location"] == "/sign-in?next=" + page.path(ids)
    assert await row_counts(db) == before


@pytest.mark.parametrize("page", [p for p in PAGES if p.template.startswith("/ui/")],
                         ids=[f"{p.method} {p.template}" for p in PAGES if p.template.startswith("/ui/")])
async def test_an_htmx_request_without_a_session_is_told_where_to_sign_in(client, records, page: PageRoute) -> None:
    _tenant, ids = records
    response = await _call(client, page, ids, {"HX-Request": "true", "HX-Current-URL": "http://testserver/leads"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/sign-in?next=/leads"


@pytest.mark.parametrize("page", [p for p in PAGES if p.method == "POST"],
                         ids=[p.template for p in PAGES if p.method == "POST"])
@pytest.mark.parametrize("token", [None, "0" * 64])
async def test_a_change_without_the_sessions_csrf_token_is_refused(client, factory, db, records, page: PageRoute,
                                                                     token: str | None) -> None:
    tenant, ids = records
    headers = web_headers(await factory.session_headers(tenant, "admin"), csrf=False, htmx=True)
    if token:
        headers["X-CSRF-Token"] = token
    before = await row_counts(db)
    response = await _call(client, page, ids, headers)
    assert response.status_code == 403, response.text
    assert "CSRF" in response.text
    assert await row_counts(db) == before


@pytest.mark.parametrize("page", [p for p in PAGES if p.record], ids=[f"{p.method} {p.template}"
                                                                       for p in PAGES if p.record])
async def test_another_tenants_record_is_not_found_and_stays_unchanged(client, factory, db, records,
                                                                       page: PageRoute) -> None:
    _tenant, ids = records
    other = await factory.tenant("other")
    headers = web_headers(await factory.session_headers(other, "admin"), htmx=page.template.startswith("/ui/"))
    owner = await factory.headers(records[0])
    lead_before = (await client.get(f"/api/v1/crm/leads/{ids['lead']}", headers=owner)).json()
    before = await row_counts(db)
    response = await _call(client, page, ids, headers)
    assert response.status_code == 404, response.text
    assert "anna@example.nl" not in response.text
    assert await row_counts(db) == before
    assert (await client.get(f"/api/v1/crm/leads/{ids['lead']}", headers=owner)).json() == lead_before


async def test_lists_show_only_the_persons_tenant(client, factory, records) -> None:
    _tenant, ids = records
    other = await factory.tenant("other")
    await factory.lead(other, await factory.contact(other, email="bob@other.example"))
    headers = web_headers(await factory.session_headers(other, "admin"), htmx=True)
    listed = await client.get("/ui/leads/list", headers=headers)
    new = await client.get("/ui/today/new-leads", headers=headers)
    assert "bob@other.example" in listed.text
    for answer in (listed, new):
        assert "anna@example.nl" not in answer.text and f'id="lead-{ids["lead"]}"' not in answer.text


@pytest.mark.parametrize("page", [p for p in PAGES if p.record], ids=[f"{p.method} {p.template}"
                                                                       for p in PAGES if p.record])
async def test_an_id_no_database_can_hold_is_a_4xx_naming_it(client, factory, db, records, page: PageRoute) -> None:
    tenant, _ids = records
    headers = web_headers(await factory.session_headers(tenant, "admin"), htmx=True)
    before = await row_counts(db)
    response = await _call(client, page, {"contact": 2**63, "lead": 2**63}, headers)
    assert response.status_code == 422, response.text
    assert "text/html" in response.headers["content-type"] and "_id" in response.text
    api = await _call(client, page, {"contact": 2**63, "lead": 2**63}, {**headers, "Accept": "application/json",
                                                                       "HX-Request": ""})
    assert (api.status_code, api.headers["content-type"]) == (422, "application/problem+json")
    assert await row_counts(db) == before


@pytest.mark.parametrize("field", ["q", "status", "priority", "event_type", "team", "owner"])
async def test_a_filter_no_database_can_hold_is_a_4xx_naming_it(client, factory, records, field: str) -> None:
    tenant, _ids = records
    headers = web_headers(await factory.session_headers(tenant, "admin"), htmx=True)
    for url in ("/leads", "/ui/leads/list"):
        response = await client.get(url, params={field: "bad\x00text"}, headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert field in response.text
