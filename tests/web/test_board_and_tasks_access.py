"""Every page and fragment of the Pipelines and Tasks screens against every role (the API's permission table), and
against another tenant's signed-in person: refused or not found, never shown, nothing changed."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute

from rentguy_crm.auth.permissions import ROLES, Permission
from rentguy_crm.auth.service import Principal
from rentguy_crm.crm import board
from rentguy_crm.kit import clock
from rentguy_crm.web import deals, pipelines, tasks
from tests.table_counts import row_counts
from tests.web.board_support import HTMX, PAGE, signed_in

READ, WRITE, ACTIVITIES = Permission.CRM_READ, Permission.CRM_WRITE, Permission.ACTIVITIES_WRITE

# (method, path template, form maker, permission needed, answer when allowed)
ROUTES: list[tuple[str, str, Any, Permission, int]] = [
    ("GET", "/pipelines", None, READ, 303),
    ("GET", "/pipelines/{key}", None, READ, 200),
    ("GET", "/ui/pipelines/{key}/board", None, READ, 200),
    ("POST", "/ui/pipelines/{key}/deals", lambda ids: {"lead_id": ids["lead"]}, WRITE, 200),
    ("GET", "/ui/deals/{deal_id}/card", None, READ, 200),
    ("GET", "/ui/deals/{deal_id}/edit", None, WRITE, 200),
    ("POST", "/ui/deals/{deal_id}", lambda ids: {"title": "Bruiloft Anna & Tom"}, WRITE, 200),
    ("POST", "/ui/deals/{deal_id}/stage", lambda ids: {"stage": "proposal_sent"}, WRITE, 200),
    ("POST", "/ui/deals/{deal_id}/undo", lambda ids: {"move": ids["move"]}, WRITE, 200),
    ("GET", "/tasks", None, READ, 200),
    ("GET", "/ui/tasks/list", None, READ, 200),
    ("POST", "/ui/tasks/{task_id}/complete", None, ACTIVITIES, 200),
]


def test_the_table_covers_every_route_of_the_two_screens() -> None:
    served = {(method, route.path) for module in (pipelines, deals, tasks) for route in module.router.routes
              if isinstance(route, APIRoute) for method in route.methods}
    assert served == {(method, path) for method, path, _f, _p, _s in ROUTES}


async def _records(db, factory, tenant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """A deal that was moved (so it can be undone), a lead without a deal, an open task."""
    contact = await factory.contact(tenant, email=f"anna@{tenant.slug}.example")
    lead = await factory.lead(tenant, contact)
    deal = await factory.deal(tenant, contact, stage_key="new")
    task = await factory.activity(tenant, kind="task", title="Bel terug", deal_id=deal.id, owner="lisa@mr-dj.nl",
                                  team="general", due_at=clock.now() - dt.timedelta(hours=1))
    async with db.session() as session:
        mover = Principal(tenant_id=tenant.id, tenant_slug=tenant.slug, roles=("sales",), api_key_id=None,
                          name="setup")
        _deal, _left, move_id = await board.move(session, mover, deal.id, "qualified")
    return {"key": "wedding", "deal_id": deal.id, "lead": lead.id, "task_id": task.id, "move": move_id}


CASES = [(role, *route) for role in ROLES for route in ROUTES]


@pytest.mark.parametrize(("role", "method", "template", "form", "needs", "allowed"), CASES,
                         ids=[f"{c[0]}-{c[1]} {c[2]}" for c in CASES])
async def test_role_against_page(client, db, factory, mrdj, role: str, method: str, template: str, form: Any,
                                 needs: Permission, allowed: int) -> None:
    ids = await _records(db, factory, mrdj)
    person = await signed_in(db, mrdj, role, email="lisa@mr-dj.nl")
    before = await row_counts(db)
    response = await client.request(method, template.format(**ids), headers={**person, **HTMX},
                                    data=form(ids) if form else None)
    if needs in ROLES[role]:
        assert response.status_code == allowed, response.text
    else:
        assert response.status_code == 403, response.text
        assert needs.value in response.text
        assert await row_counts(db) == before


@dataclass
class World:
    a: dict[str, Any]
    b_person: dict[str, str]


@pytest.fixture
async def world(db, factory) -> World:  # type: ignore[no-untyped-def]
    a = await factory.tenant("mrdj")
    b = await factory.tenant("other")
    await _records(db, factory, b)
    return World(a=await _records(db, factory, a), b_person=await signed_in(db, b, "admin", email="lisa@mr-dj.nl"))


RECORD_ROUTES = [(m, t, f) for m, t, f, _p, _s in ROUTES if "{deal_id}" in t or "{task_id}" in t
                 or t.endswith("/deals")]


@pytest.mark.parametrize(("method", "template", "form"), RECORD_ROUTES, ids=[f"{m} {t}" for m, t, _f in RECORD_ROUTES])
async def test_another_tenants_record_is_not_found_and_stays_unchanged(client, db, world: World, method: str,
                                                                       template: str, form: Any) -> None:
    before = await row_counts(db)
    response = await client.request(method, template.format(**world.a), headers=world.b_person,
                                     data=form(world.a) if form else None)
    assert response.status_code in (404, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await row_counts(db) == before


async def test_another_tenants_board_and_tasks_show_none_of_this_tenants_records(client, world: World) -> None:
    board_html = (await client.get("/ui/pipelines/wedding/board", headers={**world.b_person, **HTMX})).text
    assert "anna@mrdj.example" not in board_html
    assert f'id="deal-{world.a["deal_id"]}"' not in board_html
    assert f'id="lead-card-{world.a["lead"]}"' not in board_html
    own = re.findall(r'id="deal-(\d+)"', board_html)
    assert len(own) == 1
    for view in ("view=team&team=general", "view=mine"):  # the same e-mail address in both tenants
        listed = (await client.get(f"/ui/tasks/list?{view}", headers={**world.b_person, **HTMX})).text
        assert f'id="task-{world.a["task_id"]}"' not in listed
        assert len(re.findall(r'id="task-(\d+)"', listed)) == 1
    page = await client.get("/pipelines/wedding", headers={**world.b_person, **PAGE})
    assert page.status_code == 200
