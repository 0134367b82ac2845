"""Every page and fragment of the Tickets, Reports and Admin screens against every role (the API's permission
table), signed out, and against another tenant's records (404, nothing changed)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from rentguy_crm.auth.permissions import ROLES, Permission
from rentguy_crm.ratelimit.models import RateLimitSwitch
from rentguy_crm.support.models import Ticket, TimelineEntry
from rentguy_crm.web import admin, reports, tickets
from tests.web.screen_support import FRAGMENT, PAGE, archived_report, key_ids, open_ticket

# (method, path template, form fields, permission): every route of the three screens.
ROUTES: list[tuple[str, str, dict[str, str] | None, Permission]] = [
    ("GET", "/tickets", None, Permission.TICKETS_READ),
    ("GET", "/ui/tickets/list", None, Permission.TICKETS_READ),
    ("POST", "/ui/tickets", {"subject": "Vraag", "activity": "first_line_triage", "priority": "P3"},
     Permission.TICKETS_WRITE),
    ("GET", "/tickets/{n}", None, Permission.TICKETS_READ),
    ("GET", "/ui/tickets/{n}", None, Permission.TICKETS_READ),
    ("POST", "/ui/tickets/{n}/replies", {"body": "We kijken ernaar."}, Permission.TICKETS_WRITE),
    ("POST", "/ui/tickets/{n}/notes", {"body": "Intern: formulier logt 500"}, Permission.TICKETS_WRITE),
    ("POST", "/ui/tickets/{n}/runbook", {"runbook_key": "2.2", "step": "1"}, Permission.TICKETS_WRITE),
    ("POST", "/ui/tickets/{n}/status", {"status": "pending"}, Permission.TICKETS_WRITE),
    ("POST", "/ui/tickets/{n}/priority", {"priority": "P2"}, Permission.TICKETS_WRITE),
    ("GET", "/reports", None, Permission.REPORTS_READ),
    ("GET", "/ui/reports/charts", None, Permission.REPORTS_READ),
    ("GET", "/ui/reports/list", None, Permission.REPORTS_READ),
    ("GET", "/ui/reports/{r}/charts/sla", None, Permission.REPORTS_READ),
    ("GET", "/admin", None, Permission.ADMIN),
    ("GET", "/ui/admin/people", None, Permission.ADMIN),
    ("GET", "/ui/admin/keys", None, Permission.ADMIN),
    ("POST", "/ui/admin/keys", {"name": "website", "role_sales": "1"}, Permission.ADMIN),
    ("POST", "/ui/admin/keys/{k}/revoke", None, Permission.ADMIN),
    ("GET", "/ui/admin/settings", None, Permission.ADMIN),
    ("GET", "/ui/admin/rate-limit", None, Permission.ADMIN),
    ("POST", "/ui/admin/rate-limit", {"profile": "strict", "duration": "2h"}, Permission.ADMIN),
]


def test_the_table_covers_every_route_of_the_three_screens() -> None:
    served = {(method, route.path.replace("{number}", "{n}").replace("{report_id}", "{r}")
               .replace("{key_id}", "{k}").replace("{name}", "sla"))
              for screen in (tickets.router, reports.router, admin.router) for route in screen.routes
              for method in getattr(route, "methods", ()) if method != "HEAD"}
    assert served == {(m, p) for m, p, _f, _n in ROUTES}


async def _world(client: Any, factory: Any, db: Any, tenant: Any) -> dict[str, int]:
    admin_key = await factory.headers(tenant, "admin")
    keys = await key_ids(db, tenant.id)
    return {"n": await open_ticket(client, admin_key), "r": await archived_report(db, tenant.id),
            "k": max(keys)}


async def _changes(db: Any) -> tuple[int, int, int]:
    async with db.session() as session:
        return (int(await session.scalar(select(func.count()).select_from(Ticket)) or 0),
                int(await session.scalar(select(func.count()).select_from(TimelineEntry)) or 0),
                int(await session.scalar(select(func.count()).select_from(RateLimitSwitch)) or 0))


def _request(method: str, template: str, ids: dict[str, int]) -> tuple[str, str, dict[str, str]]:
    path = template.format(**ids)
    return method, path, (FRAGMENT if path.startswith("/ui/") else PAGE)


CASES = [(role, *route) for role in ROLES for route in ROUTES]


@pytest.mark.parametrize(("role", "method", "template", "form", "needs"), CASES,
                         ids=[f"{c[0]}-{c[1]} {c[2]}" for c in CASES])
async def test_role_against_screen_route(client, factory, db, role: str, method: str, template: str,
                                         form: dict[str, str] | None, needs: Permission) -> None:
    tenant = await factory.tenant("mrdj")
    ids = await _world(client, factory, db, tenant)
    headers = await factory.session_headers(tenant, role)
    before, keys_before = await _changes(db), await key_ids(db, tenant.id)
    method, path, kind = _request(method, template, ids)
    response = await client.request(method, path, headers={**headers, **kind}, data=form)
    if needs in ROLES[role]:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert needs.value in response.text
        assert await _changes(db) == before and await key_ids(db, tenant.id) == keys_before


@pytest.mark.parametrize(("method", "template", "form", "_needs"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
async def test_signed_out_person_is_sent_to_sign_in(client, factory, db, method: str, template: str,
                                                    form: dict[str, str] | None, _needs: Permission) -> None:
    tenant = await factory.tenant("mrdj")
    ids = await _world(client, factory, db, tenant)
    method, path, kind = _request(method, template, ids)
    response = await client.request(method, path, headers=kind, data=form)
    if kind is FRAGMENT:
        assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/sign-in")
    else:
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


async def test_post_without_the_csrf_token_is_refused_and_changes_nothing(client, factory, db) -> None:
    tenant = await factory.tenant("mrdj")
    ids = await _world(client, factory, db, tenant)
    cookie = {"Cookie": (await factory.session_headers(tenant, "admin"))["Cookie"]}
    before = await _changes(db)
    response = await client.post(f"/ui/tickets/{ids['n']}/notes", headers={**cookie, **FRAGMENT},
                                 data={"body": "zonder token"})
    assert response.status_code == 403 and "CSRF" in response.text
    assert await _changes(db) == before


RECORD_ROUTES = [r for r in ROUTES if "{" in r[1]]


@pytest.mark.parametrize(("method", "template", "form", "_needs"), RECORD_ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in RECORD_ROUTES])
async def test_another_tenants_record_answers_404_and_stays_unchanged(client, factory, db, method: str,
                                                                      template: str, form: dict[str, str] | None,
                                                                      _needs: Permission) -> None:
    a = await factory.tenant("mrdj")
    b = await factory.tenant("other")
    ids = await _world(client, factory, db, a)
    headers = await factory.session_headers(b, "admin")
    before, keys_before = await _changes(db), await key_ids(db, a.id)
    method, path, kind = _request(method, template, ids)
    response = await client.request(method, path, headers={**headers, **kind}, data=form)
    assert response.status_code == 404, response.text
    assert await _changes(db) == before and await key_ids(db, a.id) == keys_before
