"""Every page and fragment of the Automations and Templates screens against every role (the API's permission
table, answered with the "not allowed" fragment), against another tenant's records (404, nothing changed), and
signed out (the sign-in page)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from rentguy_crm.automation.runs.models import AutomationRun, WorkflowPause
from rentguy_crm.templates.models import Template, TemplateVersion
from rentguy_crm.web import automations, message_templates
from tests.table_counts import row_counts
from tests.web.operations_world import FRAGMENT, OperationsWorld, build

SINCE = "2020-01-01T00:00"
# (method, path template, form, permission needed)
ROUTES: list[tuple[str, str, dict[str, str] | None, str]] = [
    ("GET", "/automations", None, "automation:read"),
    ("GET", "/ui/automations/workflows", None, "automation:read"),
    ("GET", "/ui/automations/runs", None, "automation:read"),
    ("GET", "/automations/runs/{dead}", None, "automation:read"),
    ("GET", "/ui/automations/runs/{dead}", None, "automation:read"),
    ("POST", "/ui/automations/runs/{dead}/retry", None, "automation:operate"),
    ("POST", "/ui/automations/runs/{queued}/cancel", None, "automation:operate"),
    ("POST", "/ui/automations/workflows/{key}/pause", {"reason": "onderhoud"}, "automation:operate"),
    ("POST", "/ui/automations/workflows/{key}/resume", None, "automation:operate"),
    ("POST", "/ui/automations/workflows/{key}/retry-failed", {"since": SINCE}, "automation:operate"),
    ("GET", "/templates", None, "templates:read"),
    ("GET", "/ui/templates/list", None, "templates:read"),
    ("GET", "/templates/{template}", None, "templates:read"),
    ("GET", "/ui/templates/{template}/diff", None, "templates:read"),
    ("POST", "/ui/templates/versions/{version}/preview", {"subject_record": "lead:{lead}"}, "templates:read"),
    ("POST", "/ui/templates/versions/{version}/save", {"text_body": "Hallo"}, "templates:write"),
    ("POST", "/ui/templates/versions/{version}/publish", None, "templates:write"),
    ("GET", "/templates/clone", None, "templates:write"),
    ("GET", "/ui/templates/clone-plan", None, "templates:write"),
    ("POST", "/ui/templates/clone", None, "templates:write"),
]
# What each role may do here (mirrors auth/permissions.py; a change there must show up here).
ALLOWED = {
    "sales": {"automation:read", "templates:read"},
    "support": {"automation:read", "templates:read"},
    "engineering": {"automation:read", "automation:operate", "templates:read"},
    "operations": {"automation:read", "automation:operate", "templates:read", "templates:write"},
    "admin": {"automation:read", "automation:operate", "templates:read", "templates:write"},
}
SCREEN_PREFIXES = ("/automations", "/ui/automations", "/templates", "/ui/templates")
ID_ROUTES = [route for route in ROUTES if "{" in route[1]]


def _fill(text: str, world: OperationsWorld) -> str:
    return text.format(dead=world.dead, queued=world.queued, key="lead_intake", template=world.template,
                       version=world.version, lead=world.lead)


async def _state(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Everything these screens can change: runs' statuses, pauses, template versions, and the CRM/audit counts."""
    async with db.session() as session:
        runs = (await session.execute(select(AutomationRun.id, AutomationRun.status)
                                      .order_by(AutomationRun.id))).all()
        pauses = await session.scalar(select(func.count()).select_from(WorkflowPause))
        versions = (await session.execute(select(TemplateVersion.id, TemplateVersion.status,
                                                 TemplateVersion.text_body).order_by(TemplateVersion.id))).all()
        templates = await session.scalar(select(func.count()).select_from(Template))
    return {"runs": [tuple(r) for r in runs], "pauses": pauses, "versions": [tuple(v) for v in versions],
            "templates": templates, "counts": await row_counts(db)}


def test_the_tables_cover_every_route_of_these_screens() -> None:
    # From the screens' own routers: the app includes routers lazily, so app.routes does not list their routes.
    served = {(method, route.path) for screen in (automations.router, message_templates.router)
              for route in screen.routes for method in getattr(route, "methods", set()) - {"HEAD"}}
    covered = {(method, path.replace("{dead}", "{run_id}").replace("{queued}", "{run_id}")
                .replace("{template}", "{template_id}").replace("{version}", "{version_id}"))
               for method, path, _form, _needs in ROUTES}
    assert len(served) == len(ROUTES)
    assert served == covered
    assert all(path.startswith(SCREEN_PREFIXES) for _method, path in served)


CASES = [(role, *route) for role in ALLOWED for route in ROUTES]


@pytest.mark.parametrize(("role", "method", "template", "form", "needs"), CASES,
                         ids=[f"{c[0]}-{c[1]} {c[2]}" for c in CASES])
async def test_role_against_page(client, db, factory, role: str, method: str, template: str,  # type: ignore[no-untyped-def]
                                 form: dict[str, str] | None, needs: str) -> None:
    world = await build(db, factory)
    headers = {**await factory.session_headers(world.tenant, role), **FRAGMENT}
    data = {name: _fill(value, world) for name, value in form.items()} if form else None
    before = await _state(db)
    response = await client.request(method, _fill(template, world), headers=headers, data=data)
    if needs in ALLOWED[role]:
        assert response.status_code in (200, 303), response.text
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
    else:
        assert response.status_code == 403, response.text
        assert needs in response.text and "state-not-allowed" in response.text
        assert await _state(db) == before


@pytest.mark.parametrize(("method", "template", "form", "needs"), ID_ROUTES,
                         ids=[f"{m} {t}" for m, t, _f, _n in ID_ROUTES])
async def test_another_tenants_record_is_not_found_and_unchanged(client, db, factory, method: str, template: str,  # type: ignore[no-untyped-def]
                                                                 form: dict[str, str] | None, needs: str) -> None:
    world = await build(db, factory)
    other = await factory.tenant("other")
    headers = {**await factory.session_headers(other, "admin"), **FRAGMENT}
    data = {name: _fill(value, world) for name, value in form.items()} if form else None
    before = await _state(db)
    response = await client.request(method, _fill(template, world), headers=headers, data=data)
    assert response.status_code == 404, response.text
    assert "Anouk" not in response.text
    assert await _state(db) == before


@pytest.mark.parametrize(("method", "template", "form", "needs"), ROUTES, ids=[f"{m} {t}" for m, t, _f, _n in ROUTES])
async def test_signed_out_is_sent_to_sign_in_and_changes_nothing(client, db, factory, method: str, template: str,  # type: ignore[no-untyped-def]
                                                                 form: dict[str, str] | None, needs: str) -> None:
    world = await build(db, factory)
    before = await _state(db)
    response = await client.request(method, _fill(template, world), headers=FRAGMENT, data=form)
    assert response.status_code == 401 and response.headers["hx-redirect"].startswith("/sign-in")
    assert await _state(db) == before
